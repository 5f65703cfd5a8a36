/**
 * A local Wawp (api.wawp.net v2) on the fake WhatsApp network: credentials in any documented
 * placement (JSON body, query string, `access-token` header, or `Authorization: Bearer` with
 * `X-Instance-ID`), the send endpoints with their limits, whatsapp-web.js message objects as answers,
 * `{status, message, error}` error bodies, a message quota (403 `quota_reached`), a WhatsApp session
 * that can fail (`wawp_upstream_error`), fault injection, and WAHA-style webhooks posted as arrays.
 *
 * What the docs leave open is a guess here, and configurable: whether `wawp_upstream_error` comes as
 * a 502 or inside a 200 body (`upstreamErrorAs`), the reaction path, the webhook signature header
 * (hex HMAC-SHA256, `X-Webhook-Hmac` by default), and a 400 naming a number not on WhatsApp.
 *
 * @since 0.1.0
 */
import { ChatId, Message } from "@parley/core"
import { HttpTransport, type Waha, WireSchema } from "@parley/core/provider"
import { Emulator, FakeNetwork, Faults, WahaEmulation } from "@parley/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaParser from "effect/SchemaParser"
import * as Api from "./WawpApi.js"

/**
 * How the emulator reports a failure of the WhatsApp engine: a 502 `{status, message, error:
 * "wawp_upstream_error"}`, or a 200 `{ wawp_upstream_error: "…" }`.
 *
 * @since 0.1.0
 * @category models
 */
export type UpstreamErrorStyle = "status" | "body"

/**
 * The states of the WhatsApp session behind an instance. Only `WORKING` sends.
 *
 * @since 0.1.0
 * @category models
 */
export type SessionStatus = "WORKING" | "STOPPED" | "SCAN_QR_CODE" | "FAILED"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The instance clients must name (default `A1B2C3D4E5F6`). */
  readonly instanceId?: string | undefined
  /** The token clients must present (default `wawp-test-token`). */
  readonly accessToken?: string | undefined
  /** The number the instance is linked to (default `FakeNetwork.defaultBusiness`). */
  readonly business?: ChatId.ChatId | undefined
  readonly webhookUrl?: string | undefined
  /** Sign webhooks with hex HMAC-SHA256 of the body when set. */
  readonly webhookSecret?: string | undefined
  /** The signature header (default `X-Webhook-Hmac`). */
  readonly webhookHeader?: string | undefined
  /** The WAHA engine whose webhook shapes to post (default WEBJS; see `WahaEmulation.payloadOf`). */
  readonly engine?: Waha.Engine | undefined
  /** How `wawp_upstream_error` is reported (default `status`). */
  readonly upstreamErrorAs?: UpstreamErrorStyle | undefined
  /** Messages the plan allows; beyond, sends are refused with 403 `quota_reached` (default: no limit). */
  readonly quota?: number | undefined
  /** The reaction endpoint (default `/v2/send/reaction`). */
  readonly reactionPath?: `/${string}` | undefined
  readonly port?: number | undefined
}

/**
 * A running emulator.
 *
 * @since 0.1.0
 * @category models
 */
export interface WawpEmulator extends Emulator.Emulator {
  readonly instanceId: string
  readonly accessToken: string
  /** Moves the WhatsApp session: unless `WORKING`, sends fail with `wawp_upstream_error`. */
  readonly setSessionStatus: (status: SessionStatus) => Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const WawpEmulator = Context.Service<WawpEmulator>("@parley/wawp/WawpEmulator")

const encodeError = Schema.encodeSync(Api.ErrorResponse)
const encodeUpstream = Schema.encodeSync(Api.UpstreamErrorBody)
const encodeMessage = Schema.encodeSync(Api.MessageResponse)
const decodeCredentials = Schema.decodeUnknownOption(Api.Credentials)

const failure = (status: number, error: string, message: string) =>
  new Emulator.Reject({ status, body: encodeError({ status, message, error }) })

const upstreamAnswer = (style: UpstreamErrorStyle, reason: string) =>
  style === "body"
    ? { status: 200, body: encodeUpstream({ wawp_upstream_error: reason }) }
    : { status: 502, body: encodeError({ status: 502, message: reason, error: Api.upstreamErrorCode }) }

/**
 * A fault that answers the next request(s) with `wawp_upstream_error` in the given style.
 *
 * @since 0.1.0
 * @category faults
 */
export const upstreamError = (style: UpstreamErrorStyle, reason = "WhatsApp engine did not respond"): Faults.Fault => {
  const answer = upstreamAnswer(style, reason)
  return Faults.respond(answer.status, answer.body)
}

const base64Bytes = (data: string) => Math.floor((data.replace(/=+$/, "").length * 3) / 4)

// Query and JSON body merged (Wawp reads parameters from either), decoded with `schema`.
const params = <A, I>(schema: Schema.Codec<A, I>) => {
  const decode = SchemaParser.decodeUnknownResult(schema, { errors: "first", reportInput: true })
  return Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const text = yield* Effect.orElseSucceed(request.text, () => "")
    if (typeof HttpTransport.parseBody(text) === "string") {
      return yield* failure(400, "bad_request", "malformed JSON body")
    }
    const merged = yield* Emulator.requestParams
    return { merged, decoded: decode(merged), headers: request.headers }
  })
}

/**
 * Starts the emulator on a free loopback port for the life of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Emulator.Constructor<Options, WawpEmulator> = (options = {}) =>
  Effect.gen(function*() {
    const network = yield* FakeNetwork.FakeNetwork
    const { provider } = Api
    const instanceId = options.instanceId ?? "A1B2C3D4E5F6"
    const accessToken = options.accessToken ?? "wawp-test-token"
    const business = options.business ?? FakeNetwork.defaultBusiness
    const me = ChatId.toJid(business, "c.us")
    const style = options.upstreamErrorAs ?? "status"
    let session: SessionStatus = "WORKING"
    let used = 0

    // Credentials from the body or query, the `access-token` header, or Bearer + `X-Instance-ID`.
    const authorize = (merged: Record<string, unknown>, headers: Readonly<Record<string, string>>) => {
      const given = Option.getOrElse(decodeCredentials(merged), (): Api.Credentials => ({}))
      const bearer = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? "")?.[1]
      const token = given.access_token ? Redacted.value(given.access_token) : headers["access-token"] ?? bearer
      const instance = given.instance_id ?? headers["x-instance-id"]
      if (token === undefined || token.length === 0) {
        return Effect.fail(failure(401, "unauthorized", "Missing access_token"))
      }
      if (instance === undefined || instance.length === 0) {
        return Effect.fail(failure(400, "bad_request", "Missing instance_id"))
      }
      return token === accessToken && instance === instanceId
        ? Effect.void
        : Effect.fail(failure(401, "unauthorized", "Invalid instance_id or access_token"))
    }

    const route = <A, I>(
      schema: Schema.Codec<A, I>,
      handler: (body: A) => Effect.Effect<HttpServerResponse.HttpServerResponse, Emulator.Reject>
    ) =>
      Emulator.handle(Effect.gen(function*() {
        const { decoded, headers, merged } = yield* params(schema)
        yield* authorize(merged, headers)
        if (Result.isFailure(decoded)) {
          return yield* failure(400, "bad_request", WireSchema.describeIssue(decoded.failure))
        }
        return yield* handler(decoded.success)
      }))

    const recipient = (chatId: string) =>
      chatId.includes("@")
        ? Result.match(ChatId.parse(chatId), {
          onFailure: (e) => Effect.fail(failure(400, "bad_request", `chatId: ${e.reason}`)),
          onSuccess: Effect.succeed
        })
        : Effect.fail(failure(400, "bad_request", "chatId must be a WhatsApp JID (…@c.us, …@g.us, …@newsletter)"))

    const check = (problem: string | undefined) =>
      problem === undefined ? Effect.void : Effect.fail(failure(400, "bad_request", problem))

    const checkCaption = (caption: string | undefined) =>
      check(
        caption !== undefined && caption.length > Message.limits.captionLength
          ? `caption exceeds ${Message.limits.captionLength} characters`
          : undefined
      )

    // http(s) URLs are fetched by Wawp; `data:` URLs carry the file (size-checked).
    const media = (
      kind: "image" | "video" | "audio" | "document",
      file: typeof Api.File.Type,
      caption: string | undefined
    ): Effect.Effect<FakeNetwork.Content, Emulator.Reject> => {
      const data = /^data:[^,]*;base64,(.*)$/s.exec(file.url)?.[1]
      if (data === undefined && !/^https?:\/\//.test(file.url)) {
        return Effect.fail(failure(400, "bad_request", "file.url must be an http(s) or data: URL"))
      }
      const bytes = data === undefined ? undefined : base64Bytes(data)
      if (bytes !== undefined && bytes > Message.limits.mediaBytes) {
        return Effect.fail(failure(400, "bad_request", "file exceeds 16 MB"))
      }
      return Effect.as(checkCaption(caption), {
        kind,
        url: data === undefined ? file.url : undefined,
        bytes,
        ...(caption ? { caption } : {}),
        ...(file.filename ? { filename: file.filename } : {}),
        ...(file.mimetype ? { mimeType: file.mimetype } : {})
      })
    }

    // Carries out a send through the session: records it on the network, answers the message object.
    const deliver = (input: {
      readonly chatId: string
      readonly content: FakeNetwork.Content
      readonly type: string
      readonly body: string
      readonly replyTo?: string | undefined
    }) =>
      Effect.gen(function*() {
        const chat = yield* recipient(input.chatId)
        if (session !== "WORKING") {
          const answer = upstreamAnswer(style, `WhatsApp session is ${session}`)
          return yield* new Emulator.Reject(answer)
        }
        if (options.quota !== undefined && used >= options.quota) {
          return yield* failure(403, "quota_reached", `Message quota of ${options.quota} reached for this plan`)
        }
        const serialized = WahaEmulation.messageId(chat)
        const jid = ChatId.toJid(chat, "c.us")
        const message = yield* network.deliver({
          id: serialized,
          provider,
          business,
          chat,
          content: input.content,
          replyTo: input.replyTo
        }).pipe(
          Effect.mapError(() => failure(400, "bad_request", `${jid} is not registered on WhatsApp`))
        )
        used++
        const key = {
          fromMe: true,
          remote: jid,
          id: serialized.slice(serialized.lastIndexOf("_") + 1),
          _serialized: serialized
        }
        const timestamp = Math.floor(message.at / 1000)
        const content = input.content
        return HttpServerResponse.jsonUnsafe(encodeMessage({
          id: key,
          ack: 0,
          hasMedia: content.kind !== "text" && content.kind !== "location" && content.kind !== "reaction",
          body: input.body,
          type: input.type,
          timestamp,
          from: me,
          to: jid,
          fromMe: true,
          hasQuotedMsg: input.replyTo !== undefined,
          deviceType: "web",
          isForwarded: false,
          ...(content.kind === "location"
            ? { location: { latitude: content.latitude, longitude: content.longitude, description: content.name } }
            : {}),
          _data: {
            id: key,
            type: input.type,
            body: input.body,
            t: timestamp,
            from: me,
            to: jid,
            ack: 0,
            isNewMsg: true
          }
        }))
      })

    // The file endpoints: a format check, then the file (and its caption) through the session.
    const sendFile = <
      B extends {
        readonly chatId: string
        readonly file: typeof Api.File.Type
        readonly caption?: string | undefined
        readonly reply_to?: string | undefined
      }
    >(
      kind: "image" | "video" | "audio" | "document",
      type: string,
      format: (body: B) => string | undefined = () => undefined
    ) =>
    (b: B) =>
      Effect.gen(function*() {
        yield* check(format(b))
        const content = yield* media(kind, b.file, b.caption)
        return yield* deliver({ chatId: b.chatId, content, type, body: b.caption ?? "", replyTo: b.reply_to })
      })

    const app = yield* Emulator.router([
      HttpRouter.route(
        "POST",
        "/v2/send/text",
        route(Api.SendTextRequest, (b) =>
          Effect.gen(function*() {
            yield* check(
              b.message.trim().length === 0
                ? "message is required"
                : b.message.length > Message.limits.textLength
                ? `message exceeds ${Message.limits.textLength} characters`
                : undefined
            )
            const content = { kind: "text", text: b.message } as const
            return yield* deliver({ chatId: b.chatId, content, type: "chat", body: b.message, replyTo: b.reply_to })
          }))
      ),
      HttpRouter.route(
        "POST",
        "/v2/send/image",
        route(
          Api.SendImageRequest,
          sendFile(
            "image",
            "image",
            (b) =>
              b.file.mimetype !== undefined && !["image/jpeg", "image/png"].includes(b.file.mimetype)
                ? "file.mimetype must be image/jpeg or image/png"
                : undefined
          )
        )
      ),
      HttpRouter.route("POST", "/v2/send/pdf", route(Api.SendPdfRequest, sendFile("document", "document"))),
      HttpRouter.route(
        "POST",
        "/v2/send/voice",
        route(
          Api.SendVoiceRequest,
          sendFile(
            "audio",
            "ptt",
            (b) =>
              b.file.mimetype !== undefined && !b.file.mimetype.startsWith("audio/ogg") && b.convert !== true
                ? "voice notes must be OGG/Opus (audio/ogg); set convert: true to transcode"
                : undefined
          )
        )
      ),
      HttpRouter.route("POST", "/v2/send/video", route(Api.SendVideoRequest, sendFile("video", "video"))),
      HttpRouter.route(
        "POST",
        "/v2/send/location",
        route(Api.SendLocationRequest, (b) =>
          Effect.gen(function*() {
            yield* check(
              Math.abs(b.latitude) > 90
                ? "latitude must be between -90 and 90"
                : Math.abs(b.longitude) > 180
                ? "longitude must be between -180 and 180"
                : undefined
            )
            const content = {
              kind: "location",
              latitude: b.latitude,
              longitude: b.longitude,
              ...(b.title ? { name: b.title } : {}),
              ...(b.message ? { address: b.message } : {})
            } as const
            return yield* deliver({ chatId: b.chatId, content, type: "location", body: "", replyTo: b.reply_to })
          }))
      ),
      HttpRouter.route(
        "PUT",
        options.reactionPath ?? Api.defaultReactionPath,
        route(Api.ReactionRequest, (b) =>
          Effect.gen(function*() {
            const original = yield* network.find(b.messageId)
            if (Option.isNone(original)) return yield* failure(404, "not_found", `Message ${b.messageId} not found`)
            const content = { kind: "reaction", messageId: b.messageId, emoji: b.reaction } as const
            const chatId = ChatId.toJid(original.value.chat, "c.us")
            return yield* deliver({ chatId, content, type: "reaction", body: b.reaction })
          }))
      )
    ])

    // Wawp posts events in arrays, signed with SHA-256.
    const base = yield* WahaEmulation.serve({
      ...options,
      provider,
      session: instanceId,
      business,
      network,
      app,
      engine: options.engine ?? "WEBJS",
      secret: options.webhookSecret,
      header: options.webhookHeader ?? Api.defaultWebhookHeader,
      algorithm: "sha256",
      arrays: true
    })
    return {
      ...base,
      instanceId,
      accessToken,
      setSessionStatus: (status) => Effect.sync(() => void (session = status))
    } satisfies WawpEmulator
  })

/**
 * The emulator as a layer, for tests and the example app: `layer(options)`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = Emulator.layer(WawpEmulator, make)
