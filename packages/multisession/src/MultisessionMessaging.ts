/**
 * Parley's `MessagingService` over the self-hosted `go-whatsapp-multi-session-rest-api` gateway
 * (whatsmeow behind a Go/Fiber REST API), authenticated with a device JWT.
 *
 * Media goes up as multipart uploads: the client fetches the message's URL with the same `HttpClient`
 * (streamed, capped at the gateway's body limit) and posts the bytes. The form is encoded to its
 * multipart bytes by the platform's own `Response` before it is handed to the `HttpClient`: a
 * `FormData` object is sent correctly only by a client of the same undici realm (Node's bundled undici
 * for `NodeHttpClient.layer`, the npm `undici` for `layerUndici`, and the two differ between Node 20
 * and 24).
 *
 * What the gateway's code (commit `dab7403`) cannot carry is `Unsupported` before any request, so
 * `Failover` sends it through another provider: quoted replies, chats by `@lid` or `@newsletter`,
 * reactions in groups, audio that is not MP3 and video that is not MP4 (it labels every upload with a
 * fixed type), and media over its body limit.
 *
 * @example
 * ```ts
 * import { Multisession } from "@parley/multisession"
 * import { ChatId, Message, MessagingService } from "@parley/core"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Redacted } from "effect"
 *
 * const program = MessagingService.send(Message.text(ChatId.phone("+6281234567890"), "Hello"))
 * program.pipe(
 *   Effect.provide(Multisession.layer({ token: Redacted.make(deviceJwt) })),
 *   Effect.provide(NodeHttpClient.layerUndici)
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { Capabilities, ChatId, HttpTransport, Message, MessagingError, MessagingService, RateLimit } from "@parley/core"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { flow } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Api from "./MultisessionApi.js"

/**
 * The provider's name in receipts, errors and metrics.
 *
 * @since 0.1.0
 * @category constants
 */
export const provider = "multisession"

/**
 * Where the gateway listens by default.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "http://localhost:7001"

/**
 * What the gateway carries, as its code behaves: text, image, video, audio, document, location and
 * reactions; no templates (it is an unofficial WhatsApp Web client) and no quoted replies (its reply
 * endpoint sends plain text). Its webhooks say that a user wrote but not what (`inboundMessages` is
 * false: each arrives as `UnavailableContent`), and report delivered/read/played receipts, with no
 * "failed" (failures arrive as `message.delivered`).
 *
 * @since 0.1.0
 * @category constants
 */
export const capabilities: Capabilities.Capabilities = Capabilities.make({
  kinds: ["text", "image", "video", "audio", "document", "location", "reaction"],
  replies: [],
  inboundMessages: false,
  statuses: ["delivered", "read", "played"],
  idempotencyKeys: false
})

/**
 * How to reach the gateway.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionOptions {
  /** The gateway's base URL, with any `HTTP_BASE_URL` prefix (default `http://localhost:7001`). */
  readonly baseUrl?: string | undefined
  /** The device JWT (`Authorization: Bearer …`), as `POST /devices` or `POST /devices/token` issued it. */
  readonly token: Redacted.Redacted
  /** How long to wait for an answer (default 30 s). */
  readonly timeout?: Duration.DurationInput | undefined
  /** The gateway's `HTTP_BODY_LIMIT_SIZE` in bytes (default 8 MB): larger media is `Unsupported`. */
  readonly bodyLimit?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends MessagingService.Options, ConnectionOptions {
  /**
   * Turns the gateway's typing/presence simulation on or off for every send (`typing_simulation` and
   * `presence_simulation`). Absent: the gateway's own default (on, with a 1–3 s delay per send).
   */
  readonly simulation?: boolean | undefined
}

const decodeError = Schema.decodeUnknownOption(Api.ErrorResponse)

/**
 * The reason in a gateway error body: `error || message`, else the body itself.
 *
 * @since 0.1.0
 * @category classification
 */
export const reasonOf = (body: unknown): string =>
  HttpTransport.describe(
    Option.match(decodeError(body), {
      onNone: () => body,
      onSome: (e) => e.error || e.message || body
    })
  )

// The gateway's answers for a number that is not on WhatsApp or not a valid phone number
// (`WhatsAppCheckJID`, `validatePersonalPhoneInput` in pkg/whatsapp/whatsapp.go).
const notOnWhatsApp = /not registered|phone number must/i
// A send without a recipient: what the gateway answers when a field it needs did not decode.
const noRecipient = /phone number cannot be empty/i
// The gateway's media size check (`… exceeds maximum allowed size`).
const tooLarge = /exceeds maximum allowed size/i
// Refusals of this particular file or chat, which another provider may carry: the document allowlist
// (`Document MIME type … is not allowed`), an image it cannot thumbnail (`Error While Decoding …`),
// a chat whatsmeow cannot address.
const cannotCarry = /mime type .* is not allowed|error while decoding|unknown server/i

// A 500 is the gateway's answer to any send failure. Most mean the device is down (`WhatsApp Client is
// not Logged In` / `not Connected` / `not Valid`): ProviderUnavailable, the default for 5xx. The rest are
// permanent and must not be retried.
const classify: HttpTransport.Classifier = (answer) => {
  if (answer.status < 400) return undefined
  const reason = reasonOf(answer.body)
  if (answer.status === 413 || answer.status >= 500 && cannotCarry.test(reason)) {
    return new MessagingError.Unsupported({
      provider,
      feature: `this file (the gateway answered ${answer.status}: ${reason})`
    })
  }
  if (answer.status < 500) return HttpTransport.classifyStatus({ ...answer, body: reason })
  if (notOnWhatsApp.test(reason)) {
    return new MessagingError.RecipientUnavailable({ provider, chat: answer.chat, reason })
  }
  if (noRecipient.test(reason)) {
    return new MessagingError.InvalidMessage({ provider, field: "to", reason, status: answer.status })
  }
  if (tooLarge.test(reason)) {
    return new MessagingError.InvalidMessage({ provider, field: "url", reason, status: answer.status })
  }
  return HttpTransport.classifyStatus({ ...answer, body: reason })
}

// The HTTP transport to the gateway: base URL, Bearer token and error mapping.
const makeTransport = (
  options: ConnectionOptions
): Effect.Effect<HttpTransport.HttpTransport, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) =>
    HttpTransport.make({
      provider,
      client: client.pipe(
        HttpClient.mapRequest(flow(
          HttpClientRequest.prependUrl((options.baseUrl ?? defaultBaseUrl).replace(/\/+$/, "")),
          HttpClientRequest.bearerToken(options.token),
          HttpClientRequest.acceptJson
        ))
      ),
      classify,
      timeout: options.timeout
    }))

type MediaMessage = Message.ImageMessage | Message.VideoMessage | Message.AudioMessage | Message.DocumentMessage

interface Download {
  readonly size: number
  readonly chunks: Array<Uint8Array>
}

// Room left in the request body for the form's other parts and boundaries.
const formOverhead = 64 * 1024

// The URL without its query string, which may carry a signature: errors name where, not how.
const where = (url: string) => {
  const parsed = new URL(url)
  return `${parsed.origin}${parsed.pathname}`
}

// The error code a transport failure carries (`ECONNREFUSED`, …), itself or in its causes.
const causeCode = (u: unknown, depth = 0): string | undefined => {
  if (!Predicate.isObject(u) || depth > 5) return undefined
  if (Predicate.hasProperty(u, "code") && typeof u.code === "string") return u.code
  return Predicate.hasProperty(u, "cause") ? causeCode(u.cause, depth + 1) : undefined
}

/**
 * Downloads a message's media with `client`, streamed and capped at `limit` (the gateway's body limit,
 * less room for the form). Media over WhatsApp's 16 MB, or a 4xx from the media host, is
 * `InvalidMessage` (no provider can send it); media over the gateway's limit is `Unsupported` (another
 * provider may); a 5xx, 429, timeout or connection failure is `ProviderUnavailable` (nothing was sent,
 * so it is safe to retry).
 */
const fetchMedia = (
  client: HttpClient.HttpClient,
  message: MediaMessage,
  options: { readonly timeout: Duration.Duration; readonly limit: number }
) => {
  const whatsApp = Message.limits.mediaBytes
  const at = where(message.url)
  const invalid = (reason: string) =>
    new MessagingError.InvalidMessage({ provider, field: "url", reason: `media at ${at} ${reason}` })
  const unavailable = (reason: string, status?: number) =>
    new MessagingError.ProviderUnavailable({
      provider,
      reason: `media at ${at} ${reason}`,
      ...(status === undefined ? {} : { status })
    })
  // `exact`: the size is known; otherwise the media is only known to be over `size` (the cap).
  const tooBig = (size: number, exact: boolean) => {
    const described = exact ? `is ${size} bytes` : `is more than ${size} bytes`
    return (exact ? size > whatsApp : size >= whatsApp)
      ? invalid(`${described}; WhatsApp allows at most ${whatsApp} bytes (16 MB)`)
      : new MessagingError.Unsupported({
        provider,
        feature:
          `media over ${options.limit} bytes (media at ${at} ${described}; the gateway's body limit, HTTP_BODY_LIMIT_SIZE, leaves room for ${options.limit})`
      })
  }
  const read = (
    response: HttpClientResponse.HttpClientResponse
  ): Effect.Effect<
    Uint8Array,
    | MessagingError.InvalidMessage
    | MessagingError.Unsupported
    | MessagingError.ProviderUnavailable
    | HttpClientError.ResponseError
  > => {
    const { status } = response
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      return Effect.fail(invalid(`could not be fetched: the host answered ${status}`))
    }
    if (status < 200 || status >= 300) {
      return Effect.fail(unavailable(`could not be fetched: the host answered ${status}`, status))
    }
    const declared = Number(response.headers["content-length"])
    if (declared > options.limit) return Effect.fail(tooBig(declared, true))
    return response.stream.pipe(
      Stream.runFoldEffect<Download, Uint8Array, MessagingError.Unsupported | MessagingError.InvalidMessage, never>(
        { size: 0, chunks: [] },
        (acc, chunk) => {
          const size = acc.size + chunk.length
          if (size > options.limit) return Effect.fail(tooBig(options.limit, false))
          acc.chunks.push(chunk)
          return Effect.succeed({ size, chunks: acc.chunks })
        }
      ),
      Effect.map(({ chunks, size }) => {
        const bytes = new Uint8Array(size)
        let offset = 0
        for (const chunk of chunks) {
          bytes.set(chunk, offset)
          offset += chunk.length
        }
        return bytes
      })
    )
  }
  const transportFailure = (error: HttpClientError.HttpClientError) => {
    const code = causeCode(error.cause)
    return Effect.fail(unavailable(`could not be fetched (${error.reason}${code ? `: ${code}` : ""})`))
  }
  return client.get(message.url).pipe(
    Effect.flatMap(read),
    Effect.scoped,
    Effect.timeoutFail({
      duration: options.timeout,
      onTimeout: () => unavailable(`did not arrive within ${Duration.format(options.timeout)}`)
    }),
    Effect.catchTags({ RequestError: transportFailure, ResponseError: transportFailure })
  )
}

/**
 * What this gateway cannot carry although the kind is in its capabilities, decided before any request
 * (as read in its code at `dab7403`): chats other than phone numbers and groups (`WhatsAppGetJID` looks
 * every other JID up as a phone number), reactions in groups (`React` sets the reacted message's sender
 * to the chat), and audio or video whose type differs from the one the gateway stamps on every upload
 * (`internal/messaging/messaging.go`): an Ogg voice note labelled `audio/mpeg` does not play. The type
 * is the message's `mimeType`, else its URL's extension (`Message.mimeType`).
 *
 * @since 0.1.0
 * @category constraints
 */
export const unsupported = (message: Message.Message): Option.Option<string> => {
  const { kind } = message.to
  if (kind === "lid" || kind === "newsletter") {
    return Option.some(
      `messages to ${
        kind === "lid" ? "chats by linked identity (@lid)" : "channels (@newsletter)"
      }: the gateway resolves every chat that is not a group as a phone number`
    )
  }
  switch (message._tag) {
    case "Reaction":
      return kind === "group"
        ? Option.some("reactions in groups: the gateway attributes the reacted message to the group")
        : Option.none()
    case "Audio":
    case "Video": {
      const stamped = Api.uploadMimeTypes[message._tag === "Audio" ? "audio" : "video"]
      const type = Message.mimeType(message)
      return type.split(";")[0]!.trim().toLowerCase() === stamped
        ? Option.none()
        : Option.some(
          `${message._tag.toLowerCase()} as ${type}: the gateway labels every ${message._tag.toLowerCase()} upload ${stamped}`
        )
    }
    default:
      return Option.none()
  }
}

/**
 * The driver-level service over an `HttpClient`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<MessagingService.Service, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const transport = yield* makeTransport(options)
    // Media is fetched without the gateway's base URL or token.
    const mediaClient = HttpClient.followRedirects(yield* HttpClient.HttpClient, 5)
    const media = {
      timeout: Duration.decode(options.timeout ?? "30 seconds"),
      limit: Math.min(Message.limits.mediaBytes, (options.bodyLimit ?? Api.defaultBodyLimit) - formOverhead)
    }
    const simulation = options.simulation === undefined
      ? {}
      : { typing_simulation: options.simulation, presence_simulation: options.simulation }

    const sent = <E>(
      answer: Effect.Effect<typeof Api.SendResponse.Type, E>
    ): Effect.Effect<MessagingService.ProviderReceipt, E> =>
      Effect.map(answer, (r) => ({ messageId: r.data.message_id, status: "sent" }))

    const post = <A, I>(path: string, schema: Schema.Schema<A, I>, body: A, chat: string) =>
      HttpClientRequest.post(path).pipe(
        HttpClientRequest.schemaBodyJson(schema)(body),
        Effect.orDie,
        Effect.flatMap((request) => sent(transport.execute(request, Api.SendResponse, { chat })))
      )

    // Each media kind's endpoint and text fields (beside the `file` part).
    const form = (message: MediaMessage) => {
      switch (message._tag) {
        case "Image":
        case "Video":
          return {
            endpoint: Api.mediaEndpoints[message._tag === "Image" ? "image" : "video"],
            fields: Schema.encodeSync(Api.CaptionedForm)({ caption: message.caption, ...simulation })
          }
        case "Audio":
          // MP3 only (see `unsupported`), which WhatsApp does not play as a voice note.
          return { endpoint: Api.mediaEndpoints.audio, fields: Schema.encodeSync(Api.AudioForm)(simulation) }
        case "Document":
          return {
            endpoint: Api.mediaEndpoints.document,
            fields: Schema.encodeSync(Api.DocumentForm)({
              filename: Message.filename(message),
              caption: message.caption,
              ...simulation
            })
          }
      }
    }

    const upload = (message: MediaMessage, chat: string) =>
      Effect.gen(function*() {
        const bytes = yield* fetchMedia(mediaClient, message, media)
        const { endpoint, fields } = form(message)
        const body = new FormData()
        for (const [key, value] of Object.entries(fields)) {
          if (value !== undefined) body.append(key, value)
        }
        // The gateway ignores the part's type (it stamps or sniffs its own); it is sent for the record.
        body.append(Api.fileField, new Blob([bytes], { type: Message.mimeType(message) }), Message.filename(message))
        const encoded = new Response(body)
        const multipart = new Uint8Array(yield* Effect.promise(() => encoded.arrayBuffer()))
        const request = HttpClientRequest.post(Api.chatPath(chat, endpoint)).pipe(
          HttpClientRequest.bodyUint8Array(multipart, encoded.headers.get("content-type") ?? undefined)
        )
        return yield* sent(transport.execute(request, Api.SendResponse, { chat }))
      })

    const send = (
      message: Message.Message
    ): Effect.Effect<MessagingService.ProviderReceipt, MessagingError.MessagingError> => {
      const refused = unsupported(message)
      if (Option.isSome(refused)) {
        return Effect.fail(new MessagingError.Unsupported({ provider, feature: refused.value }))
      }
      const chat = ChatId.toJid(message.to, "s.whatsapp.net")
      switch (message._tag) {
        case "Text":
          return post(Api.chatPath(chat, "messages"), Api.SendTextRequest, { text: message.text, ...simulation }, chat)
        case "Reaction":
          return post(
            Api.messagePath(message.messageId, "reaction"),
            Api.ReactionRequest,
            { ChatJID: chat, Emoji: message.emoji },
            chat
          )
        case "Location":
          return post(
            Api.chatPath(chat, "locations"),
            Api.LocationRequest,
            { latitude: message.latitude, longitude: message.longitude, name: message.name, address: message.address },
            chat
          )
        case "Image":
        case "Video":
        case "Audio":
        case "Document":
          return upload(message, chat)
        case "Template":
          return Effect.fail(new MessagingError.Unsupported({ provider, feature: "template messages" }))
      }
    }

    return yield* MessagingService.make({ provider, capabilities, send }, options)
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<MessagingService.MessagingService, never, HttpClient.HttpClient> =>
  Layer.scoped(MessagingService.MessagingService, make(options))

/**
 * The settings `layerConfig` reads by default: `PARLEY_MULTISESSION_BASE_URL` (default
 * `http://localhost:7001`), `PARLEY_MULTISESSION_TOKEN` (the device JWT), and optionally
 * `PARLEY_MULTISESSION_SIMULATION` (`true`/`false`) and `PARLEY_MULTISESSION_RATE_LIMIT` /
 * `PARLEY_MULTISESSION_RATE_LIMIT_BURST`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  connection: Config.all({
    baseUrl: Config.withDefault(Config.string("PARLEY_MULTISESSION_BASE_URL"), defaultBaseUrl),
    token: Config.redacted("PARLEY_MULTISESSION_TOKEN")
  }),
  simulation: Config.option(Config.boolean("PARLEY_MULTISESSION_SIMULATION")),
  rateLimit: RateLimit.config("PARLEY_MULTISESSION")
}).pipe(Config.map(({ connection, rateLimit, simulation }) => ({
  ...connection,
  simulation: Option.getOrUndefined(simulation),
  rateLimit
})))

/**
 * The layer, with options from `Config` (by default {@link config}).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<MessagingService.MessagingService, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.unwrapEffect(Effect.map(options, layer))
