/**
 * A local WhatsApp Cloud API on the fake WhatsApp network: the Graph API's bearer auth (401, code 190),
 * `POST /{version}/{phone-number-id}/messages` checked by the `MetaApi` schemas (400, code 100, for a
 * malformed message; WhatsApp's text, caption and interactive limits), sends answered with
 * acceptance (`wamid.` ids) and their outcome posted later as `statuses`, media uploads
 * (`POST …/media`, multipart), media lookups (`GET /{version}/{media-id}`) and downloads, mark as read,
 * templates checked against the approved ones (132000, 132001, 132012), the 24 h window (131047),
 * undeliverable numbers (a `failed` status with 131026, as Meta reports them), fault injection, and
 * webhooks signed with `X-Hub-Signature-256`: users' messages (media by id, a reply to a choice as the
 * tapped button or list row) and statuses. `verifyWebhook` makes the GET verification Meta makes.
 *
 * What the docs leave open is configurable: whether the window is enforced, and then synchronously
 * (an error answer) or as a `failed` status; the HTTP status of errors about a message (400, as Meta
 * answers).
 *
 * @since 0.1.0
 */
import { ChatId } from "@parley/core"
import { ProviderWebhook } from "@parley/core/provider"
import { Emulator, FakeNetwork, type Faults, MetaEmulation } from "@parley/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { createHash, randomBytes } from "node:crypto"
import * as Api from "./MetaApi.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The access token clients must present (default `meta-test-token`). */
  readonly accessToken?: string | undefined
  /** The business phone number's id (default `106540352242922`). */
  readonly phoneNumberId?: string | undefined
  /** The WhatsApp Business Account id in webhooks (default `102290129340398`). */
  readonly wabaId?: string | undefined
  /** The number it sends as (default `FakeNetwork.defaultBusiness`). */
  readonly business?: ChatId.ChatId | undefined
  /** The app secret webhooks are signed with (default `meta-test-app-secret`). */
  readonly appSecret?: string | undefined
  /** The verify token `verifyWebhook` presents (default `meta-test-verify-token`). */
  readonly verifyToken?: string | undefined
  readonly webhookUrl?: string | undefined
  /** The approved templates, by name, with their number of body variables (absent: any). */
  readonly templates?: Readonly<Record<string, number>> | undefined
  /**
   * Free-form messages to chats that have not written in 24 h: refused with 131047 (`sync`), accepted
   * and then `failed` with 131047 (`async`, as Meta usually reports it), or sent (`false`, default).
   */
  readonly window?: "sync" | "async" | false | undefined
  /** The HTTP status of errors about a message (default 400, as Meta answers). */
  readonly errorStatus?: number | undefined
  readonly port?: number | undefined
}

/**
 * A running emulator.
 *
 * @since 0.1.0
 * @category models
 */
export interface MetaEmulator extends Emulator.Emulator {
  readonly accessToken: string
  readonly phoneNumberId: string
  readonly appSecret: string
  readonly verifyToken: string
  /**
   * Meta's verification of a webhook URL: `GET <url>?hub.mode=subscribe&hub.verify_token=<token>&
   * hub.challenge=<random>` (the token defaults to `verifyToken`). `verified`: the answer was 200 with the
   * challenge.
   */
  readonly verifyWebhook: (
    url: string,
    token?: string
  ) => Effect.Effect<{ readonly status: number; readonly body: string; readonly verified: boolean }>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const MetaEmulator = Context.Service<MetaEmulator>("@parley/meta/MetaEmulator")

/**
 * A fault that answers the next request(s) with a Meta error of `code` (status 400, or `status`).
 *
 * @since 0.1.0
 * @category faults
 */
export const errorFault = (code: number, message = `error ${code}`, status = 400): Faults.Fault => {
  const { body } = MetaEmulation.error(status, { code, message })
  return { _tag: "Respond", status, body }
}

interface StoredMedia {
  readonly content?: Uint8Array | undefined
  readonly url?: string | undefined
  readonly mimeType: string
}

const encodeValue = Schema.encodeSync(Api.Value)
const encodeBody = Schema.encodeSync(Api.WebhookBody)
const encodeInfo = Schema.encodeSync(Api.MediaInfo)
const encodePhoneNumber = Schema.encodeSync(Api.PhoneNumber)
const decodeMessage = Schema.decodeUnknownEffect(Schema.Union([Api.SendRequest, Api.MarkReadRequest]), {
  errors: "first"
})

const mediaKinds = ["image", "video", "audio", "document", "sticker"] as const
type MediaKind = typeof mediaKinds[number]

const kindOfType = (mimeType: string): MediaKind | undefined =>
  mediaKinds.find((kind) => Api.uploadMimeTypes[kind].includes(mimeType))

// A failure Meta reports in a status: `<code>: <title>` on the network.
const errorOf = (text: string | undefined): Api.WebhookError => {
  const at = text?.indexOf(": ") ?? -1
  const code = at > 0 ? Number(text!.slice(0, at)) : 131000
  const title = at > 0 ? text!.slice(at + 2) : text ?? "Something went wrong"
  return { code: Number.isNaN(code) ? 131000 : code, title, message: title, error_data: { details: title } }
}

const defaultMimeTypes: Record<MediaKind, string> = {
  image: "image/jpeg",
  video: "video/mp4",
  audio: "audio/ogg",
  document: "application/pdf",
  sticker: "image/webp"
}

const digits = () => String(BigInt(`0x${randomBytes(7).toString("hex")}`))

/**
 * Starts the emulator on a free loopback port for the life of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Emulator.Constructor<Options, MetaEmulator> = (options = {}) =>
  Effect.gen(function*() {
    const network = yield* FakeNetwork.FakeNetwork
    const client = yield* HttpClient.HttpClient
    const { provider } = Api
    const accessToken = options.accessToken ?? "meta-test-token"
    const phoneNumberId = options.phoneNumberId ?? "106540352242922"
    const wabaId = options.wabaId ?? "102290129340398"
    const business = options.business ?? FakeNetwork.defaultBusiness
    const appSecret = options.appSecret ?? "meta-test-app-secret"
    const verifyToken = options.verifyToken ?? "meta-test-verify-token"
    const errorStatus = options.errorStatus ?? 400
    const log = Emulator.requestLog()
    const media = new Map<string, StoredMedia>()
    let base = ""

    const invalid = (details: string, code = 100) =>
      MetaEmulation.error(errorStatus, { code, message: "(#100) Invalid parameter", details })

    const authorize = Emulator.checkBearer(accessToken, {
      missing: () =>
        MetaEmulation.error(401, {
          code: 190,
          message: "An active access token must be used to query information about the current user."
        }),
      invalid: () =>
        MetaEmulation.error(401, { code: 190, message: "Invalid OAuth access token - Cannot parse access token" })
    })

    // Every route: auth, a version like `v23.0`, and (for the phone number's routes) this number.
    const guard = (number?: string) =>
      Effect.gen(function*() {
        yield* authorize
        const { phoneNumberId: given, version } = yield* HttpRouter.params
        if (!/^v\d+\.\d+$/.test(version ?? "")) return yield* invalid(`unknown API version ${version}`, 2500)
        if (number !== undefined && given !== number) return yield* MetaEmulation.unknownObject(given ?? "", "post")
      })

    const record = (body: unknown) =>
      Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
        log.record({ method: request.method, url: request.url, headers: request.headers, body }))

    const recipient = (to: string) => {
      const chat = ChatId.parse(to)
      return Result.isSuccess(chat) && chat.success.kind === "phone"
        ? Effect.succeed(chat.success)
        : Effect.fail(invalid(`to: ${to} is not a WhatsApp user's phone number`, 131009))
    }

    const mediaContent = (kind: MediaKind, object: typeof Api.MediaObject.Type) => {
      const extra = {
        ...(object.caption ? { caption: object.caption } : {}),
        ...(object.filename ? { filename: object.filename } : {})
      }
      if (object.link !== undefined) {
        return Effect.succeed<FakeNetwork.Content>({ kind, url: object.link, ...extra })
      }
      const stored = media.get(object.id ?? "")
      if (stored === undefined) {
        return Effect.fail(invalid(`${kind}.id: media ${object.id} not found`, 131053))
      }
      return Effect.succeed<FakeNetwork.Content>({
        kind,
        mimeType: stored.mimeType,
        bytes: stored.content?.length,
        url: stored.url,
        ...extra
      })
    }

    const contentOf = (body: Api.SendRequest): Effect.Effect<FakeNetwork.Content, Emulator.Reject> => {
      switch (body.type) {
        case "text":
          return body.text.body.trim() === ""
            ? Effect.fail(invalid("text.body is required"))
            : Effect.succeed({ kind: "text", text: body.text.body })
        case "image":
          return mediaContent("image", body.image)
        case "video":
          return mediaContent("video", body.video)
        case "audio":
          return mediaContent("audio", body.audio)
        case "document":
          return mediaContent("document", body.document)
        case "sticker":
          return mediaContent("sticker", body.sticker)
        case "location":
          return Math.abs(body.location.latitude) > 90 || Math.abs(body.location.longitude) > 180
            ? Effect.fail(invalid("location: latitude or longitude out of range"))
            : Effect.succeed({ kind: "location", ...body.location })
        case "reaction":
          return Effect.flatMap(network.find(body.reaction.message_id), (original) =>
            Option.isNone(original)
              ? Effect.fail(invalid(`reaction.message_id: message ${body.reaction.message_id} not found`, 131009))
              : Effect.succeed({ kind: "reaction", messageId: body.reaction.message_id, emoji: body.reaction.emoji }))
        case "template":
          return Effect.map(
            MetaEmulation.templateVariables({
              name: body.template.name,
              components: body.template.components ?? [],
              templates: options.templates,
              status: errorStatus
            }),
            (variables) => ({ kind: "template", name: body.template.name, variables })
          )
        case "interactive": {
          const { action, body: text } = body.interactive
          const titles = "buttons" in action
            ? action.buttons.map((button) =>
              button.reply.title
            )
            : action.sections.flatMap((section) => section.rows.map((row) => row.title))
          return Effect.succeed({ kind: "buttons", text: text.text, options: titles })
        }
      }
    }

    const send = (body: Api.SendRequest) =>
      Effect.gen(function*() {
        const chat = yield* recipient(body.to)
        const content = yield* contentOf(body)
        const freeForm = body.type !== "template" && body.type !== "reaction"
        const closed = freeForm && options.window && !(yield* MetaEmulation.windowOpen(network, business, chat))
        if (closed && options.window === "sync") return yield* MetaEmulation.windowClosed(errorStatus)
        const waId = ChatId.toDigits(chat)
        const message = {
          id: MetaEmulation.wamid(waId),
          provider,
          business,
          chat,
          content,
          replyTo: body.context?.message_id
        }
        // Meta accepts, then reports what could not be delivered as a `failed` status.
        if (closed) yield* network.undeliverable(message, "131047: Re-engagement message")
        else {
          yield* network.deliver(message).pipe(
            Effect.catchTag("RecipientNotOnWhatsApp", () =>
              network.undeliverable(message, "131026: Message undeliverable"))
          )
        }
        return MetaEmulation.sendResponse({ id: message.id, waId })
      })

    const markRead = (body: typeof Api.MarkReadRequest.Type) =>
      Effect.gen(function*() {
        const found = yield* network.find(body.message_id)
        if (Option.isNone(found) || found.value.direction !== "inbound") {
          return yield* invalid(`message_id: ${body.message_id} is not a message this number received`, 131009)
        }
        yield* network.setStatus(body.message_id, "read")
        return Schema.encodeSync(Api.SuccessResponse)({ success: true })
      })

    const messages = Emulator.handle(Effect.gen(function*() {
      yield* guard(phoneNumberId)
      const request = yield* HttpServerRequest.HttpServerRequest
      const json = yield* Effect.orElseSucceed(request.json, () =>
        undefined)
      yield* record(json)
      if (json === undefined) return yield* invalid("the body must be JSON")
      const body = yield* decodeMessage(json).pipe(Effect.mapError((error) => invalid(error.message)))
      return HttpServerResponse.jsonUnsafe("status" in body ? yield* markRead(body) : yield* send(body))
    }))

    const upload = Emulator.handle(Effect.gen(function*() {
      yield* guard(phoneNumberId)
      const request = yield* HttpServerRequest.HttpServerRequest
      const bytes = new Uint8Array(yield* Effect.orElseSucceed(request.arrayBuffer, () => new ArrayBuffer(0)))
      const form = yield* Effect.orElseSucceed(
        Emulator.readMultipart(bytes, request.headers),
        (): Emulator.Upload => ({ fields: {}, files: [] })
      )
      const file = form.files.find((f) => f.key === Api.uploadFields.file)
      yield* record({ ...form.fields, file: file && { name: file.name, bytes: file.content.length } })
      if (form.fields[Api.uploadFields.product] !== "whatsapp") return yield* invalid("messaging_product is required")
      if (file === undefined) return yield* invalid("file is required")
      const type = form.fields[Api.uploadFields.type] ?? file.contentType
      const kind = kindOfType(type)
      if (kind === undefined) return yield* invalid(`type: ${type} is not a supported media type`, 131053)
      if (file.content.length > Api.mediaLimits[kind]) {
        return yield* invalid(`file: ${kind} over ${Api.mediaLimits[kind]} bytes`, 131053)
      }
      const id = digits()
      media.set(id, { content: file.content, mimeType: type })
      return HttpServerResponse.jsonUnsafe(Schema.encodeSync(Api.UploadResponse)({ id }))
    }))

    const info = (id: string, stored: StoredMedia) =>
      encodeInfo({
        messaging_product: "whatsapp",
        url: stored.url ?? `${base}/lookaside/whatsapp_business/attachments?mid=${id}&ext=${Date.now()}`,
        mime_type: stored.mimeType,
        ...(stored.content === undefined
          ? {}
          : { sha256: createHash("sha256").update(stored.content).digest("hex"), file_size: stored.content.length }),
        id
      })

    // `GET /{version}/{id}`: the business phone number, or a media id's download URL.
    const lookup = Emulator.handle(Effect.gen(function*() {
      yield* guard()
      yield* record(undefined)
      const { mediaId = "" } = yield* HttpRouter.params
      if (mediaId === phoneNumberId) {
        return HttpServerResponse.jsonUnsafe(encodePhoneNumber({
          verified_name: "Parley Emulator",
          display_phone_number: ChatId.toDigits(business),
          id: phoneNumberId,
          quality_rating: "GREEN"
        }))
      }
      const stored = media.get(mediaId)
      if (stored === undefined) return yield* MetaEmulation.unknownObject(mediaId, "get")
      return HttpServerResponse.jsonUnsafe(info(mediaId, stored))
    }))

    const download = Emulator.handle(Effect.gen(function*() {
      yield* authorize
      yield* record(undefined)
      const request = yield* HttpServerRequest.HttpServerRequest
      const mid = new URL(request.url, "http://localhost").searchParams.get("mid") ?? ""
      const stored = media.get(mid)
      return stored?.content === undefined
        ? HttpServerResponse.empty({ status: 404 })
        : HttpServerResponse.uint8Array(stored.content, { contentType: stored.mimeType })
    }))

    const app = yield* Emulator.router([
      HttpRouter.route("POST", "/:version/:phoneNumberId/messages", messages),
      HttpRouter.route("POST", "/:version/:phoneNumberId/media", upload),
      HttpRouter.route("GET", "/lookaside/whatsapp_business/attachments", download),
      HttpRouter.route("GET", "/:version/:mediaId", lookup)
    ])

    // ---------------------------------------------------------------------------------------------
    // webhooks
    // ---------------------------------------------------------------------------------------------

    const businessDigits = ChatId.toDigits(business)
    const post = (value: Omit<typeof Api.Value.Type, "messaging_product" | "metadata">) => {
      const body = JSON.stringify(encodeBody({
        object: "whatsapp_business_account",
        entry: [{
          id: wabaId,
          changes: [{
            field: "messages",
            value: encodeValue({
              messaging_product: "whatsapp",
              metadata: { display_phone_number: businessDigits, phone_number_id: phoneNumberId },
              ...value
            })
          }]
        }]
      }))
      const secret = Redacted.make(appSecret)
      return { body, headers: { [Api.signatureHeader]: ProviderWebhook.sign(Api.signature(secret), body) } }
    }

    const seconds = (millis: number) => String(Math.floor(millis / 1000))

    // A reply to a choice with one of its options is the tap of that button or list row.
    const interactiveReply = (message: FakeNetwork.NetworkMessage) =>
      Effect.map(
        message.replyTo === undefined ? Effect.succeedNone : network.find(message.replyTo),
        (quoted) => {
          const { content } = message
          if (content.kind !== "text" || Option.isNone(quoted) || quoted.value.content.kind !== "buttons") {
            return Option.none()
          }
          const options = quoted.value.content.options
          const index = options.indexOf(content.text)
          if (index === -1) return Option.none()
          const reply = { id: String(index + 1), title: content.text }
          return Option.some(
            options.length <= Api.interactiveLimits.buttons
              ? { type: "button_reply", button_reply: reply }
              : { type: "list_reply", list_reply: reply }
          )
        }
      )

    const inbound = (message: FakeNetwork.NetworkMessage) =>
      Effect.gen(function*() {
        const { content } = message
        const waId = ChatId.toDigits(message.chat)
        const head = {
          from: waId,
          id: message.id,
          timestamp: seconds(message.at),
          ...(message.replyTo === undefined ? {} : { context: { from: businessDigits, id: message.replyTo } })
        }
        const tapped = yield* interactiveReply(message)
        const body = Option.isSome(tapped)
          ? { ...head, type: "interactive", interactive: tapped.value }
          : content.kind === "text"
          ? { ...head, type: "text", text: { body: content.text } }
          : content.kind === "location"
          ? {
            ...head,
            type: "location",
            location: {
              latitude: content.latitude,
              longitude: content.longitude,
              name: content.name,
              address: content.address
            }
          }
          : content.kind === "reaction"
          ? {
            ...head,
            type: "reaction",
            reaction: { message_id: content.messageId, emoji: content.emoji || undefined }
          }
          : content.kind === "template" || content.kind === "buttons"
          ? undefined
          : yield* Effect.sync(() => {
            // Media a user sends is stored by Meta under an id; its URL comes from the media lookup.
            const id = digits()
            const mimeType = content.mimeType ?? defaultMimeTypes[content.kind]
            media.set(id, { url: content.url, mimeType })
            return {
              ...head,
              type: content.kind,
              [content.kind]: {
                id,
                mime_type: mimeType,
                ...(content.caption ? { caption: content.caption } : {}),
                ...(content.filename ? { filename: content.filename } : {})
              }
            }
          })
        if (body === undefined) return []
        return [post({
          contacts: [{ profile: { name: `User ${waId.slice(-4)}` }, wa_id: waId }],
          messages: [body as Api.InboundMessage]
        })]
      })

    const statusOf = (message: FakeNetwork.NetworkMessage, status: string, at: number) => {
      const waId = ChatId.toDigits(message.chat)
      return post({
        statuses: [{
          id: message.id,
          status,
          timestamp: seconds(at),
          recipient_id: waId,
          ...(status === "failed"
            ? { errors: [errorOf(message.error)] }
            : {
              conversation: {
                id: createHash("sha256").update(waId).digest("hex").slice(0, 32),
                origin: { type: "service" }
              },
              pricing: { billable: false, pricing_model: "PMP", category: "service" }
            })
        }]
      })
    }

    const toWebhook = (event: FakeNetwork.NetworkEvent): Effect.Effect<ReadonlyArray<Emulator.WebhookPost>> => {
      const { message } = event
      if (message.business.toString() !== business.toString() || message.chat.kind !== "phone") {
        return Effect.succeed([])
      }
      if (event._tag === "UserWrote") {
        return event.via !== undefined && event.via !== provider ? Effect.succeed([]) : inbound(message)
      }
      if (message.provider !== provider || message.direction !== "outbound") return Effect.succeed([])
      return Effect.map(Effect.clockWith((clock) => clock.currentTimeMillis), (now) =>
        event._tag === "Delivered"
          ? [statusOf(message, "sent", message.at)]
          // Meta has no `played`: a played voice note was already reported `read`.
          : message.status === "played"
          ? []
          : [statusOf(message, message.status, now)])
    }

    const emulator = yield* Emulator.make({
      provider,
      business,
      app,
      port: options.port,
      log,
      webhookUrl: options.webhookUrl,
      toWebhook
    })
    base = emulator.url

    const verifyWebhook = (url: string, token = verifyToken) =>
      Effect.gen(function*() {
        const challenge = digits()
        const request = HttpClientRequest.get(url).pipe(HttpClientRequest.setUrlParams({
          [Api.challengeParams.mode]: "subscribe",
          [Api.challengeParams.token]: token,
          [Api.challengeParams.challenge]: challenge
        }))
        const response = yield* client.execute(request)
        const body = yield* response.text
        return { status: response.status, body, verified: response.status === 200 && body === challenge }
      }).pipe(Effect.orDie)

    return { ...emulator, accessToken, phoneNumberId, appSecret, verifyToken, verifyWebhook } satisfies MetaEmulator
  })

/**
 * The emulator as a layer, for tests and the example app: `layer(options)`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = Emulator.layer(MetaEmulator, make)
