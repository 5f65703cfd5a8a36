/**
 * A local ChatSend server on the fake WhatsApp network: Bearer auth, the send endpoints with their
 * documented limits (text ≤ 4096 characters, media ≤ 16 MB), `MessageResponse` bodies, JSON errors
 * with `message`, fault injection, and WAHA-style webhooks for user messages and acks.
 *
 * What the docs leave open is a guess here, and configurable: error statuses for an unknown session
 * (404) or a number not on WhatsApp (422), and the webhook signature (HMAC-SHA512 in
 * `X-Webhook-Hmac`, as WAHA signs).
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { ChatId, Message, type Waha } from "@parley/core"
import { Emulator, FakeNetwork, Faults, WahaEmulation } from "@parley/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Api from "./ChatSendApi.js"
import { provider } from "./ChatSendMessaging.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The key clients must present (default `chatsend-test-key`). */
  readonly apiKey?: string | undefined
  /** The one session this server has (default `default`). */
  readonly session?: string | undefined
  /** The number the session is linked to (default `FakeNetwork.defaultBusiness`). */
  readonly business?: ChatId.ChatId | undefined
  readonly webhookUrl?: string | undefined
  /** Sign webhooks with HMAC-SHA512 (hex) in `X-Webhook-Hmac` when set. */
  readonly webhookSecret?: string | undefined
  /** The WAHA engine whose webhook shapes to post (default NOWEB; see `WahaEmulation.payloadOf`). */
  readonly engine?: Waha.Engine | undefined
  readonly port?: number | undefined
}

/**
 * A running emulator.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChatSendEmulator extends Emulator.Emulator {
  readonly apiKey: string
  readonly session: string
}

/**
 * @since 0.1.0
 * @category tags
 */
export const ChatSendEmulator = Context.GenericTag<ChatSendEmulator>("@parley/chatsend/ChatSendEmulator")

const error = (status: number, message: string) => new Emulator.Reject({ status, body: { message } })

const encodeResponse = Schema.encodeSync(Api.MessageResponse)

const decodeBase64Length = (data: string) => Math.floor((data.replace(/=+$/, "").length * 3) / 4)

/**
 * Starts the emulator on a free loopback port for the life of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<ChatSendEmulator, never, Scope.Scope | FakeNetwork.FakeNetwork | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const network = yield* FakeNetwork.FakeNetwork
    const faults = yield* Faults.make
    const apiKey = options.apiKey ?? "chatsend-test-key"
    const session = options.session ?? "default"
    const business = options.business ?? FakeNetwork.defaultBusiness
    let webhookUrl = options.webhookUrl

    const authorize = Effect.flatMap(
      HttpServerRequest.HttpServerRequest,
      (request) =>
        request.headers.authorization === `Bearer ${apiKey}`
          ? Effect.void
          : Effect.fail(error(401, request.headers.authorization ? "Invalid API key" : "Missing API key"))
    )

    const recipient = (to: string) =>
      Either.match(ChatId.parse(to), {
        onLeft: (e) => Effect.fail(error(400, `to: ${e.reason}`)),
        onRight: Effect.succeed
      })

    const checkUrl = (url: string | undefined, data: string | undefined, field: string) => {
      if (url === undefined && data === undefined) return Effect.fail(error(400, `${field} or data is required`))
      if (data !== undefined && decodeBase64Length(data) > Message.limits.mediaBytes) {
        return Effect.fail(error(413, "media exceeds 16 MB"))
      }
      if (url !== undefined && !/^https?:\/\//.test(url)) {
        return Effect.fail(error(400, `${field} must be an http(s) URL`))
      }
      return Effect.void
    }

    const checkText = (text: string | undefined, field: string, limit: number) =>
      text !== undefined && text.length > limit
        ? Effect.fail(error(400, `${field} exceeds ${limit} characters`))
        : Effect.void

    // Carries out a send: records the message on the network and answers with a MessageResponse.
    const deliver = (input: {
      readonly session: string
      readonly to: string
      readonly content: FakeNetwork.Content
      readonly type: string
      readonly replyTo?: string | undefined
    }) =>
      Effect.gen(function*() {
        if (input.session !== session) return yield* error(404, `Session "${input.session}" not found`)
        const chat = yield* recipient(input.to)
        const id = WahaEmulation.messageId(chat)
        const message = yield* network.deliver({
          id,
          provider,
          business,
          chat,
          content: input.content,
          replyTo: input.replyTo
        }).pipe(
          Effect.mapError((e) => error(422, e.message))
        )
        return HttpServerResponse.unsafeJson(encodeResponse({
          id: message.id,
          to: chat.toString(),
          content: input.content,
          type: input.type,
          timestamp: new Date(message.at).toISOString(),
          status: "sent",
          fromMe: true,
          sender: business.toString(),
          recipient: chat.toString()
        }))
      })

    const route = <A extends { readonly session: string }, I>(
      schema: Schema.Schema<A, I>,
      handler: (body: A) => Effect.Effect<HttpServerResponse.HttpServerResponse, Emulator.Reject>
    ) =>
      Emulator.handle(Effect.gen(function*() {
        yield* authorize
        const body = yield* Emulator.decodeJson(schema, (message) => ({ message }))
        return yield* handler(body)
      }))

    const media = (
      kind: "image" | "video" | "audio" | "document",
      body: { readonly url?: string | undefined; readonly data?: string | undefined },
      extra: Partial<{ caption: string; filename: string; mimeType: string }>
    ): FakeNetwork.Content => ({
      kind,
      url: body.url,
      bytes: body.data === undefined ? undefined : decodeBase64Length(body.data),
      ...extra
    })

    const captioned = (kind: "image" | "video") =>
    (body: {
      readonly session: string
      readonly to: string
      readonly url?: string | undefined
      readonly data?: string | undefined
      readonly caption?: string | undefined
      readonly replyTo?: string | undefined
    }) =>
      Effect.gen(function*() {
        yield* checkUrl(body.url, body.data, "url")
        yield* checkText(body.caption, "caption", Message.limits.captionLength)
        const caption = body.caption ? { caption: body.caption } : {}
        return yield* deliver({ ...body, content: media(kind, body, caption), type: kind })
      })

    const router = HttpRouter.empty.pipe(
      HttpRouter.post(
        "/send",
        route(Api.SendRequest, (body) =>
          Effect.gen(function*() {
            yield* checkText(body.text, "text", Message.limits.textLength)
            const url = body.imageUrl ?? body.videoUrl ?? body.documentUrl ?? body.audioUrl
            if (url === undefined) {
              if (!body.text) return yield* error(400, "text or a media URL is required")
              return yield* deliver({ ...body, content: { kind: "text", text: body.text }, type: "text" })
            }
            yield* checkUrl(url, undefined, "url")
            const kind = body.imageUrl ? "image" : body.videoUrl ? "video" : body.documentUrl ? "document" : "audio"
            yield* checkText(body.text, "caption", Message.limits.captionLength)
            return yield* deliver({
              ...body,
              content: media(kind, { url }, {
                ...(body.text ? { caption: body.text } : {}),
                ...(body.filename ? { filename: body.filename } : {}),
                ...(body.mimetype ? { mimeType: body.mimetype } : {})
              }),
              type: kind === "audio" ? "ptt" : kind
            })
          }))
      ),
      HttpRouter.post(
        "/sendText",
        route(Api.SendTextRequest, (body) =>
          Effect.gen(function*() {
            if (body.text.length === 0) return yield* error(400, "text is required")
            yield* checkText(body.text, "text", Message.limits.textLength)
            return yield* deliver({ ...body, content: { kind: "text", text: body.text }, type: "text" })
          }))
      ),
      HttpRouter.post("/sendImage", route(Api.SendImageRequest, captioned("image"))),
      HttpRouter.post("/sendVideo", route(Api.SendVideoRequest, captioned("video"))),
      HttpRouter.post(
        "/sendVoice",
        route(Api.SendVoiceRequest, (body) =>
          Effect.gen(function*() {
            yield* checkUrl(body.url, body.data, "url")
            return yield* deliver({ ...body, content: media("audio", body, {}), type: "ptt" })
          }))
      ),
      HttpRouter.post(
        "/sendFile",
        route(Api.SendFileRequest, (body) =>
          Effect.gen(function*() {
            yield* checkUrl(body.url, body.data, "url")
            return yield* deliver({
              ...body,
              content: media("document", body, { filename: body.fileName, mimeType: body.mimeType }),
              type: "document"
            })
          }))
      ),
      HttpRouter.put(
        "/reaction",
        route(Api.ReactionRequest, (body) =>
          Effect.gen(function*() {
            if (body.session !== session) return yield* error(404, `Session "${body.session}" not found`)
            const original = yield* network.find(body.messageId)
            if (original._tag === "None") return yield* error(404, `Message ${body.messageId} not found`)
            const id = WahaEmulation.messageId(original.value.chat)
            yield* network.deliver({
              id,
              provider,
              business,
              chat: original.value.chat,
              content: { kind: "reaction", messageId: body.messageId, emoji: body.reaction }
            }).pipe(Effect.mapError((e) => error(422, e.message)))
            return HttpServerResponse.unsafeJson(Schema.encodeSync(Api.ReactionResponse)({ id, success: true }))
          }))
      )
    )

    const server = yield* Emulator.serve({ app: router, faults, port: options.port })
    yield* Emulator.forwardEvents({
      provider,
      network,
      target: Effect.sync(() => webhookUrl),
      toWebhook: WahaEmulation.toWebhook({
        provider,
        session,
        business,
        network,
        engine: options.engine ?? "NOWEB",
        secret: options.webhookSecret
      })
    })

    return {
      provider,
      url: server.url,
      business,
      faults,
      requests: server.requests,
      down: server.down,
      up: server.up,
      setWebhookUrl: (url) => Effect.sync(() => void (webhookUrl = url)),
      apiKey,
      session
    } satisfies ChatSendEmulator
  })

/**
 * The emulator as a layer, for tests and the example app.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<ChatSendEmulator, never, FakeNetwork.FakeNetwork | HttpClient.HttpClient> =>
  Layer.scoped(ChatSendEmulator, make(options))
