/**
 * A local go-whatsapp-multi-session-rest-api gateway on the fake WhatsApp network that behaves as the
 * gateway's code does at commit `dab7403` (not only as its swagger says): device-JWT auth with the
 * gateway's 401 messages; request bodies decoded as Go's `encoding/json` fills the untagged structs of
 * `internal/types/request.go` (so the documented `chat_jid` is ignored); the send endpoints (JSON text,
 * reactions, locations, the reply endpoint that sends plain text; multipart image, video, audio and
 * document uploads) with the MIME types the handlers stamp and the document allowlist checked on
 * sniffed bytes; chats other than phones and groups failing the phone lookup; the stub history
 * (`messages: []`); `{ status, code, message, data, error }` envelopes; the 8 MB body limit; fault
 * injection; and signed webhooks: a content-free `message.received` for user messages and
 * `message.delivered` / `message.read` / `message.played` receipts, a failure posted as
 * `message.delivered`.
 *
 * What the docs leave open is configurable: `variant: "documented"` (default) answers sends with
 * `data: { message_id, status, timestamp }` and errors with a generic `message` beside `error`, as the
 * swagger shows; `variant: "code"` answers as the Go code does.
 *
 * @since 0.1.0
 */
import { ChatId } from "@parley/core"
import { HttpTransport, ProviderWebhook } from "@parley/core/provider"
import { Emulator, FakeNetwork } from "@parley/testing"
import * as ByteSize from "effect/ByteSize"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpIncomingMessage from "effect/http/HttpIncomingMessage"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"
import * as Struct from "effect/Struct"
import { createHmac, randomBytes, randomUUID } from "node:crypto"
import * as Api from "./MultisessionApi.js"

const { provider } = Api

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The device JWT clients must present (default: an HS256 token for `deviceId`, see {@link deviceToken}). */
  readonly token?: string | undefined
  /** Tokens that were valid once and have been revoked (answered `Token has been revoked…`). */
  readonly revokedTokens?: ReadonlyArray<string> | undefined
  /** The device id in the token and in webhooks (default: a random UUID). */
  readonly deviceId?: string | undefined
  /** The number the device is linked to (default `FakeNetwork.defaultBusiness`). */
  readonly business?: ChatId.ChatId | undefined
  readonly webhookUrl?: string | undefined
  /** The webhook's secret (default: 32 random bytes in hex, as the gateway generates it). */
  readonly webhookSecret?: string | undefined
  /** Answer with the swagger's wording (`documented`, default) or the Go code's (`code`). */
  readonly variant?: "documented" | "code" | undefined
  /** `HTTP_BODY_LIMIT_SIZE` in bytes (default 8 MB); larger requests get 413. */
  readonly bodyLimit?: number | undefined
  readonly port?: number | undefined
}

/**
 * A running emulator.
 *
 * @since 0.1.0
 * @category models
 */
export interface MultisessionEmulator extends Emulator.Emulator {
  readonly token: string
  readonly deviceId: string
  /** The secret webhooks are signed with (what `POST /webhooks` returns on the real gateway). */
  readonly webhookSecret: string
  /** Logs the device out (sends answer 500 `WhatsApp Client is not Logged In`) or back in. */
  readonly setLoggedIn: (loggedIn: boolean) => Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const MultisessionEmulator = Context.Service<MultisessionEmulator>("@parley/multisession/MultisessionEmulator")

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")

/**
 * A device JWT as the gateway issues it: HS256 with claims `device_id`, `api_key_id`, `version`, `sub`,
 * `iat`, `nbf` and no expiry (signed here with a fixed emulator key).
 *
 * @since 0.1.0
 * @category constructors
 */
export const deviceToken = (deviceId: string): string => {
  const issued = 1735689600
  const unsigned = `${base64url({ alg: "HS256", typ: "JWT" })}.${
    base64url({ device_id: deviceId, api_key_id: 1, version: 1, sub: deviceId, iat: issued, nbf: issued })
  }`
  return `${unsigned}.${createHmac("sha256", "parley-multisession-emulator").update(unsigned).digest("base64url")}`
}

const maxReadable = ByteSize.bytes(64 * 1024 * 1024)

const statusTexts: Record<number, string> = {
  400: "Bad request",
  401: "Unauthorized",
  404: "Not found",
  413: "Request Entity Too Large",
  500: "Internal server error"
}

const successMessages = {
  text: "Success send message",
  reply: "Success reply to message",
  reaction: "Success react to message",
  location: "Success send location",
  image: "Success send image",
  video: "Success send video",
  audio: "Success send audio",
  document: "Success send document"
} as const

const CurrentUpload = Context.Service<Option.Option<Emulator.Upload>>(
  "@parley/multisession/MultisessionEmulator/Upload"
)

const encodeSend = Schema.encodeSync(Api.SendResponse)
const encodeError = Schema.encodeSync(Api.ErrorResponse)
const encodeHistory = Schema.encodeSync(Api.HistoryResponse)
const encodeTooLarge = Schema.encodeSync(Api.ErrorResponse)
const encodeReceived = Schema.encodeSync(Api.MessageReceivedEvent)
const encodeReceipt = Schema.encodeSync(Api.ReceiptEvent)

// Every receipt type other than read/read-self/played is posted as `message.delivered`, failures
// included (`handleWhatsAppEvents`, `*events.Receipt`, pkg/whatsapp/whatsapp.go).
const receiptEvents = {
  sent: undefined,
  delivered: Api.events.delivered,
  read: Api.events.read,
  played: Api.events.played,
  failed: Api.events.delivered
} as const

/**
 * How Fiber's `BodyParser` fills a request struct: Go's `encoding/json` gives each key to the field whose
 * name (its json tag, else the Go field name) equals it, else to one equal to it ignoring case; it does
 * not fold underscores, so `chat_jid` never fills an untagged `ChatJID`. Unknown keys and nulls change
 * nothing; a later key wins; a value of the wrong type fails the whole parse. `schema` is the struct
 * (`internal/types/request.go`); every field is optional, as a Go zero value.
 */
const goStruct = <Fields extends Schema.Struct.Fields>(schema: Schema.Struct<Fields>) => {
  const names = Object.keys(schema.fields)
  return Schema.Record(Schema.String, Schema.Unknown).pipe(Schema.decodeTo(
    schema.mapFields(Struct.map(Schema.optional)),
    SchemaTransformation.transform({
      decode: (json) => {
        const fields: Record<string, unknown> = {}
        for (const [key, value] of Object.entries(json)) {
          const name = names.includes(key) ? key : names.find((n) => n.toLowerCase() === key.toLowerCase())
          if (name !== undefined && value !== null) fields[name] = value
        }
        // Checked by the struct it is decoded to.
        return fields as any
      },
      encode: (fields) => fields
    })
  ))
}

// The JSON bodies the routes read.
const TextBody = goStruct(Api.SendTextRequest)
const ReplyBody = goStruct(Api.ReplyRequest)
const ReactionBody = goStruct(Api.ReactionRequest)
const LocationBody = goStruct(Api.LocationRequest)

const ascii = (text: string) => Array.from(text, (c) => c.charCodeAt(0))

// Signatures of Go's `http.DetectContentType` (net/http/sniff.go), which the gateway's `detectMime` calls
// for documents: enough of them to tell what its allowlist lets through. `undefined` matches any byte.
const signatures: ReadonlyArray<readonly [ReadonlyArray<number | undefined>, string]> = [
  [ascii("%PDF-"), "application/pdf"],
  [ascii("%!PS-Adobe-"), "application/postscript"],
  [[0xfe, 0xff], "text/plain; charset=utf-16be"],
  [[0xff, 0xfe], "text/plain; charset=utf-16le"],
  [[0xef, 0xbb, 0xbf], "text/plain; charset=utf-8"],
  [ascii("BM"), "image/bmp"],
  [ascii("GIF87a"), "image/gif"],
  [ascii("GIF89a"), "image/gif"],
  [[...ascii("RIFF"), undefined, undefined, undefined, undefined, ...ascii("WEBPVP")], "image/webp"],
  [[0x89, ...ascii("PNG"), 0x0d, 0x0a, 0x1a, 0x0a], "image/png"],
  [[0xff, 0xd8, 0xff], "image/jpeg"],
  [ascii("ID3"), "audio/mpeg"],
  [[...ascii("OggS"), 0], "application/ogg"],
  [[...ascii("RIFF"), undefined, undefined, undefined, undefined, ...ascii("WAVE")], "audio/wave"],
  [[undefined, undefined, undefined, undefined, ...ascii("ftyp")], "video/mp4"],
  [[0x1a, 0x45, 0xdf, 0xa3], "video/webm"],
  [[0x1f, 0x8b, 0x08], "application/x-gzip"],
  [[...ascii("PK"), 0x03, 0x04], "application/zip"],
  [[...ascii("Rar!"), 0x1a, 0x07], "application/x-rar-compressed"]
]

/** Go's content sniffing, in the part the gateway's document allowlist depends on. */
const sniff = (head: Uint8Array): string => {
  const start = head.findIndex((b) => b !== 0x09 && b !== 0x0a && b !== 0x0c && b !== 0x0d && b !== 0x20)
  const markup = new TextDecoder().decode(head.subarray(Math.max(start, 0), Math.max(start, 0) + 16)).toLowerCase()
  if (/^<(!doctype html|html|head|body|script|div|p|!--)[ >]/.test(markup)) return "text/html; charset=utf-8"
  if (markup.startsWith("<?xml")) return "text/xml; charset=utf-8"
  const found = signatures.find(([signature]) =>
    head.length >= signature.length && signature.every((byte, i) => byte === undefined || head[i] === byte)
  )
  if (found) return found[1]
  // No binary control bytes: text.
  const binary = head.some((b) => b <= 0x08 || b === 0x0b || (b >= 0x0e && b <= 0x1a) || (b >= 0x1c && b <= 0x1f))
  return binary ? "application/octet-stream" : "text/plain; charset=utf-8"
}

// The image formats the gateway can decode to make a thumbnail (imgconv); anything else fails.
const decodableImages = ["image/jpeg", "image/png", "image/gif", "image/bmp", "image/webp"]

/**
 * Starts the emulator on a free loopback port for the life of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Emulator.Constructor<Options, MultisessionEmulator> = (options = {}) =>
  Effect.gen(function*() {
    const network = yield* FakeNetwork.FakeNetwork
    const deviceId = options.deviceId ?? randomUUID()
    const token = options.token ?? deviceToken(deviceId)
    const revoked = new Set(options.revokedTokens ?? [])
    const business = options.business ?? FakeNetwork.defaultBusiness
    const webhookSecret = options.webhookSecret ?? randomBytes(32).toString("hex")
    const variant = options.variant ?? "documented"
    const bodyLimit = options.bodyLimit ?? 8 * 1024 * 1024
    const log = Emulator.requestLog()
    let loggedIn = true

    const errorBody = (status: number, detail: string) =>
      encodeError({
        status: false,
        code: status,
        message: variant === "documented" ? statusTexts[status] ?? "Error" : detail,
        error: detail
      })
    const error = (status: number, detail: string) => new Emulator.Reject({ status, body: errorBody(status, detail) })

    const authorize = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      const header = request.headers.authorization
      if (header === undefined || header.trim() === "") return Effect.fail(error(401, "Missing Authorization header"))
      const match = /^bearer\s+(\S+)\s*$/i.exec(header)
      if (match === null) return Effect.fail(error(401, "Invalid Authorization header format. Use: Bearer <token>"))
      if (revoked.has(match[1]!)) return Effect.fail(error(401, "Token has been revoked. Please regenerate your token"))
      return match[1] === token ? Effect.void : Effect.fail(error(401, "Invalid or expired token"))
    })

    const route = <R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, Emulator.Reject, R>) =>
      Emulator.handle(Effect.andThen(authorize, handler))

    // A type mismatch fails the parse; a missing field is a zero value checked afterwards.
    const body = <A, I>(schema: Schema.Codec<A, I>) =>
      Emulator.decodeJson(schema, () => errorBody(400, "Failed parse body request"))

    // The gateway only checks `chat_jid` is present; a malformed one is refused here rather than at send time.
    const chatOf = (jid: string | undefined) => {
      if (jid === undefined || jid.trim() === "") return Effect.fail(error(400, "chat_jid is required"))
      return Result.match(ChatId.parse(jid.trim()), {
        onFailure: (e) => Effect.fail(error(400, `chat_jid: ${e.reason}`)),
        onSuccess: Effect.succeed
      })
    }
    const chatParam = Effect.flatMap(HttpRouter.params, (params) => chatOf(params.jid))

    const notRegistered = "WhatsApp Personal ID is Not Registered"

    // Carries out a send: the device must be logged in; the chat is resolved as `WhatsAppCheckJID` does
    // (every chat that is not a group is looked up as a phone number, so `@lid` and `@newsletter` are not
    // found); then `check` (the handler's own refusals); then the message goes on the network.
    const deliver = (input: {
      readonly action: keyof typeof successMessages
      readonly chat: ChatId.ChatId
      readonly content: FakeNetwork.Content
      readonly check?: Effect.Effect<void, Emulator.Reject> | undefined
      /** The error when the chat cannot be resolved (default `WhatsApp Personal ID is Not Registered`). */
      readonly unresolved?: string | undefined
    }) =>
      Effect.gen(function*() {
        if (!loggedIn) return yield* error(500, "WhatsApp Client is not Logged In")
        const unresolved = error(500, input.unresolved ?? notRegistered)
        if (input.chat.kind === "lid" || input.chat.kind === "newsletter") return yield* unresolved
        if (input.check) yield* input.check
        const id = `3EB0${randomBytes(9).toString("hex").toUpperCase()}`
        const message = yield* network.deliver({
          id,
          provider,
          business,
          chat: input.chat,
          content: input.content
        }).pipe(Effect.mapError(() => unresolved))
        return HttpServerResponse.jsonUnsafe(encodeSend(
          variant === "documented"
            ? {
              status: true,
              code: 200,
              message: "Message sent successfully",
              data: { message_id: message.id, status: "sent", timestamp: Math.floor(message.at / 1000) }
            }
            : { status: true, code: 200, message: successMessages[input.action], data: { message_id: message.id } }
        ))
      })

    // The handlers stamp a fixed type on images, videos and audio; documents are sniffed and must be on
    // the allowlist; images must decode for the thumbnail (internal/messaging/messaging.go,
    // pkg/whatsapp/whatsapp.go `WhatsAppSend*`).
    const upload = (kind: "image" | "video" | "audio" | "document") =>
      route(Effect.gen(function*() {
        const chat = yield* chatParam
        const form = yield* CurrentUpload
        const file = Option.flatMap(form, (f) => Option.fromNullishOr(f.files.find((p) => p.key === Api.fileField)))
        if (Option.isNone(file)) return yield* error(400, "file is required")
        const fields = yield* Schema.decodeUnknownEffect(Api.MediaForm)(
          Option.match(form, { onNone: () => ({}), onSome: (f) => f.fields })
        ).pipe(Effect.mapError(() => error(400, "Failed parse body request")))
        const { content, name } = file.value
        const bytes = content.length
        // What Go's content sniffing reads: the first 512 bytes.
        const sniffed = sniff(content.subarray(0, 512))
        const mimeType = kind === "document" ? sniffed : Api.uploadMimeTypes[kind]
        const refusal = bytes === 0
          ? `${kind[0]!.toUpperCase()}${kind.slice(1)} payload cannot be empty`
          : kind === "document" && !Api.documentMimeTypes.includes(sniffed)
          ? `Document MIME type ${sniffed} is not allowed`
          : kind === "image" && !decodableImages.includes(sniffed)
          ? "Error While Decoding Thumbnail Image Stream"
          : undefined
        return yield* deliver({
          action: kind,
          chat,
          check: refusal === undefined ? undefined : Effect.fail(error(500, refusal)),
          content: {
            kind,
            bytes,
            mimeType,
            ...(fields.caption ? { caption: fields.caption } : {}),
            ...(kind === "document" ? { filename: fields.filename || name } : {})
          }
        })
      }))

    const router = yield* Emulator.router([
      HttpRouter.route(
        "POST",
        "/chats/:jid/messages",
        route(Effect.gen(function*() {
          const chat = yield* chatParam
          const { text } = yield* body(TextBody)
          if (text === undefined || text.trim() === "") {
            return yield* error(400, variant === "documented" ? "Text field is required" : "text is required")
          }
          return yield* deliver({ action: "text", chat, content: { kind: "text", text } })
        }))
      ),
      // `WhatsAppGetChatHistory` is a stub: whatever the chat holds, no messages.
      HttpRouter.route(
        "GET",
        "/chats/:jid/messages",
        route(Effect.gen(function*() {
          const chat = yield* chatParam
          const request = yield* HttpServerRequest.HttpServerRequest
          const query = new URL(request.url, "http://localhost").searchParams
          return HttpServerResponse.jsonUnsafe(encodeHistory({
            status: true,
            code: 200,
            message: "Success get chat messages",
            data: {
              chat_jid: ChatId.toJid(chat, "s.whatsapp.net"),
              limit: Number(query.get("limit")) || 50,
              before: query.get("before") ?? "",
              after: query.get("after") ?? "",
              messages: []
            }
          }))
        }))
      ),
      // `Reply` ignores the path's message id and sends the text as a plain message to `ChatJID`: the
      // swagger's `chat_jid` leaves it empty, and the phone check answers 500 (internal/message/message.go).
      HttpRouter.route(
        "POST",
        "/messages/:id/reply",
        route(Effect.gen(function*() {
          const { ChatJID = "", Text = "" } = yield* body(ReplyBody)
          if (!loggedIn) return yield* error(500, "WhatsApp Client is not Logged In")
          if (Text.trim() === "") return yield* error(500, "Message cannot be empty")
          if (ChatJID.trim() === "") return yield* error(500, "Phone number cannot be empty")
          const chat = yield* Result.match(ChatId.parse(ChatJID), {
            onFailure: () => Effect.fail(error(500, notRegistered)),
            onSuccess: Effect.succeed
          })
          return yield* deliver({ action: "reply", chat, content: { kind: "text", text: Text } })
        }))
      ),
      // `React` needs `ChatJID`; a chat `WhatsAppGetJID` cannot resolve leaves whatsmeow an empty JID.
      HttpRouter.route(
        "POST",
        "/messages/:id/reaction",
        route(Effect.gen(function*() {
          const { id } = yield* HttpRouter.params
          const { ChatJID, Emoji } = yield* body(ReactionBody)
          const chat = yield* chatOf(ChatJID)
          return yield* deliver({
            action: "reaction",
            chat,
            unresolved: "can't send message to unknown server",
            content: { kind: "reaction", messageId: id ?? "", emoji: Emoji ?? "" }
          })
        }))
      ),
      HttpRouter.route(
        "POST",
        "/chats/:jid/locations",
        route(Effect.gen(function*() {
          const chat = yield* chatParam
          const { address, latitude = 0, longitude = 0, name } = yield* body(LocationBody)
          if (latitude === 0 && longitude === 0) return yield* error(400, "latitude and longitude are required")
          return yield* deliver({
            action: "location",
            chat,
            content: {
              kind: "location",
              latitude,
              longitude,
              ...(name ? { name } : {}),
              ...(address ? { address } : {})
            }
          })
        }))
      ),
      HttpRouter.route("POST", `/chats/:jid/${Api.mediaEndpoints.image}`, upload("image")),
      HttpRouter.route("POST", `/chats/:jid/${Api.mediaEndpoints.video}`, upload("video")),
      HttpRouter.route("POST", `/chats/:jid/${Api.mediaEndpoints.audio}`, upload("audio")),
      HttpRouter.route("POST", `/chats/:jid/${Api.mediaEndpoints.document}`, upload("document"))
    ])

    // Reads the whole body first (multipart as bytes, anything else as text, cached for the JSON routes),
    // records the request, enforces the body limit, then routes. An upload is recorded as its fields plus
    // `file: { filename, contentType, bytes }`.
    const app = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const readText = Effect.map(request.text, (text) => ({
        size: Buffer.byteLength(text),
        form: Option.none<Emulator.Upload>(),
        recorded: HttpTransport.parseBody(text)
      }))
      const readForm = Effect.flatMap(request.arrayBuffer, (buffer) =>
        Effect.map(
          Effect.orElseSucceed(
            Emulator.readMultipart(new Uint8Array(buffer), request.headers),
            (): Emulator.Upload => ({
              fields: {},
              files: []
            })
          ),
          (upload) => {
            const file = upload.files.find((f) => f.key === Api.fileField)
            return {
              size: buffer.byteLength,
              form: Option.some(upload),
              recorded: {
                ...upload.fields,
                ...(file &&
                  {
                    [Api.fileField]: { filename: file.name, contentType: file.contentType, bytes: file.content.length }
                  })
              } as unknown
            }
          }
        ))
      const multipart = request.headers["content-type"]?.toLowerCase().startsWith("multipart/form-data") === true
      const read = yield* Effect.result(
        Effect.provideService(multipart ? readForm : readText, HttpIncomingMessage.MaxBodySize, maxReadable)
      )
      log.record({
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: Result.match(read, { onFailure: () => undefined, onSuccess: (r) => r.recorded })
      })
      // Fiber refuses a body over its limit through the app's error handler (pkg/router/handler.go).
      if (Result.isFailure(read) || read.success.size > bodyLimit) {
        const reason = statusTexts[413]!
        return HttpServerResponse.jsonUnsafe(
          encodeTooLarge({ status: false, code: 413, message: reason, error: reason }),
          {
            status: 413
          }
        )
      }
      return yield* Effect.provideService(router, CurrentUpload, read.success.form)
    }).pipe(
      // What the gateway (Go Fiber) answers for a path no route matches.
      Effect.catchTag("HttpServerError", (e) =>
        e.reason._tag === "RouteNotFound"
          ? Effect.map(
            HttpServerRequest.HttpServerRequest,
            (request) => HttpServerResponse.text(`Cannot ${request.method} ${request.url}`, { status: 404 })
          )
          : Effect.fail(e)),
      Effect.map((response) => HttpServerResponse.setHeader(response, "x-request-id", randomUUID()))
    )

    const envelope = (event: FakeNetwork.NetworkEvent, now: number): Option.Option<{
      readonly name: string
      readonly body: unknown
    }> => {
      const { message } = event
      if (message.business.toString() !== business.toString()) return Option.none()
      const timestamp = new Date(now).toISOString()
      const chat = ChatId.toJid(message.chat, "s.whatsapp.net")
      switch (event._tag) {
        // No content: only who, where and when (`handleWhatsAppEvents`, `*events.Message`).
        case "UserWrote":
          if (event.via !== undefined && event.via !== provider) return Option.none()
          return Option.some({
            name: Api.events.messageReceived,
            body: encodeReceived({
              event_type: Api.events.messageReceived,
              device_id: deviceId,
              timestamp,
              data: {
                message_id: message.id,
                from: message.author ? ChatId.toJid(message.author, "s.whatsapp.net") : chat,
                chat,
                timestamp: Math.floor(message.at / 1000),
                is_from_me: false
              }
            })
          })
        case "StatusChanged": {
          const name = receiptEvents[message.status]
          if (message.provider !== provider || message.direction !== "outbound" || name === undefined) {
            return Option.none()
          }
          return Option.some({
            name,
            body: encodeReceipt({
              event_type: name,
              device_id: deviceId,
              timestamp,
              data: { message_id: message.id, chat, sender: chat, timestamp: Math.floor(now / 1000) }
            })
          })
        }
        case "Delivered":
          return Option.none()
      }
    }

    const secret = Redacted.make(webhookSecret)
    const base = yield* Emulator.make({
      provider,
      business,
      app,
      port: options.port,
      log,
      webhookUrl: options.webhookUrl,
      toWebhook: (event) =>
        Effect.map(
          Clock.currentTimeMillis,
          (now) =>
            Option.toArray(Option.map(envelope(event, now), ({ body, name }) => {
              const json = JSON.stringify(body)
              const signature = ProviderWebhook.sign(Api.signature(secret), json)
              return {
                body: json,
                headers: {
                  [Api.webhookHeaders.signature]: signature,
                  [Api.webhookHeaders.hubSignature]: signature,
                  [Api.webhookHeaders.event]: name,
                  [Api.webhookHeaders.userAgent]: Api.webhookUserAgent
                }
              }
            }))
        )
    })

    return {
      ...base,
      token,
      deviceId,
      webhookSecret,
      setLoggedIn: (value) => Effect.sync(() => void (loggedIn = value))
    } satisfies MultisessionEmulator
  })

/**
 * The emulator as a layer, for tests and the example app: `layer(options)`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = Emulator.layer(MultisessionEmulator, make)
