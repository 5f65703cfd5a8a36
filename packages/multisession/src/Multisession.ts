/**
 * Parley's `MessagingService` over the self-hosted `go-whatsapp-multi-session-rest-api` gateway
 * (whatsmeow behind a Go/Fiber REST API), authenticated with a device JWT.
 *
 * Media goes up as multipart uploads: the client fetches the message's URL with the same `HttpClient`
 * (streamed, capped at the gateway's body limit) and posts the bytes. The form is built by
 * `HttpTransport.multipart`, which is sent alike by every `HttpClient` (`NodeHttpClient.layerUndici`,
 * `NodeHttpClient.layerNodeHttp`, `FetchHttpClient`): under `layerUndici` a `FormData` from Node's
 * bundled undici once failed against the npm `undici` ("action is not a function").
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
import { Capabilities, ChatId, Message, MessagingError, type MessagingService, RateLimit } from "@parley/core"
import { ErrorTable, HttpTransport, Provider } from "@parley/core/provider"
import * as Config from "effect/Config"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Api from "./MultisessionApi.js"

/**
 * The provider's name in receipts, errors and metrics.
 *
 * @since 0.1.0
 * @category constants
 */
export const provider = Api.provider

/**
 * Where the gateway listens by default.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = Api.defaultBaseUrl

/**
 * What the gateway carries, as its code behaves: text, image, video, audio, document, location and
 * reactions, to phone numbers and groups (it resolves every other chat, `@lid` or `@newsletter`, as a
 * phone number); no templates (it is an unofficial WhatsApp Web client) and no quoted replies (its reply
 * endpoint sends plain text). Its webhooks say that a user wrote but not what (`inboundMessages` is
 * false: each arrives as `UnavailableContent`), and report delivered/read/played receipts, with no
 * "failed" (failures arrive as `message.delivered`).
 *
 * @since 0.1.0
 * @category constants
 */
export const capabilities = Capabilities.make({
  kinds: ["text", "image", "video", "audio", "document", "location", "reaction"],
  chats: ["phone", "group"],
  statuses: ["delivered", "read", "played"]
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
  readonly timeout?: Duration.Input | undefined
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

/**
 * The gateway's error table. Its reason is `error || message` ({@link reasonOf}). A 4xx is read by its
 * status. A 500 is its answer to any send failure: most mean the device is down (`WhatsApp Client is
 * not Logged In` / `not Connected` / `not Valid`): `unavailable`, the default for 5xx. The rest, told by
 * their words, are permanent and must not be retried: a number not on WhatsApp or not a valid phone
 * number (`WhatsAppCheckJID`, `validatePersonalPhoneInput` in pkg/whatsapp/whatsapp.go), a send without a
 * recipient (what it answers when a field it needs did not decode), media over its size check; and
 * refusals of this particular file or chat, which another provider may carry: the document allowlist
 * (`Document MIME type … is not allowed`), an image it cannot thumbnail (`Error While Decoding …`), a
 * chat whatsmeow cannot address, and a body over its limit (413).
 *
 * @since 0.1.0
 * @category classification
 */
export const errorTable: ErrorTable.Table = {
  read: (body) => ({ reason: reasonOf(body) }),
  rules: [
    { status: 413, outcome: "unsupported", feature: "this file" },
    {
      status: "5xx",
      text: /mime type .* is not allowed|error while decoding|unknown server/i,
      outcome: "unsupported",
      feature: "this file"
    },
    { status: "5xx", text: /not registered|phone number must/i, outcome: "recipientUnavailable" },
    { status: "5xx", text: /phone number cannot be empty/i, outcome: "invalid", field: "to" },
    { status: "5xx", text: /exceeds maximum allowed size/i, outcome: "invalid", field: "url" }
  ]
}

const classify = ErrorTable.classifier(errorTable)

// Room left in the request body for the form's other parts and boundaries.
const formOverhead = 64 * 1024

/**
 * What this gateway cannot carry although the kind and the chat are in its capabilities, decided before
 * any request (as read in its code at `dab7403`): reactions in groups (`React` sets the reacted message's sender
 * to the chat), and audio or video whose type differs from the one the gateway stamps on every upload
 * (`internal/messaging/messaging.go`): an Ogg voice note labelled `audio/mpeg` does not play. The type
 * is the message's `mimeType`, else its URL's extension (`Message.mimeType`).
 *
 * @since 0.1.0
 * @category constraints
 */
export const unsupported = (message: Message.Message): Option.Option<string> => {
  switch (message._tag) {
    case "Reaction":
      return message.to.kind === "group"
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

type Sendable = Message.Of<Capabilities.Kinds<typeof capabilities>>

const driver = (options: Options) =>
  Effect.gen(function*() {
    const transport = yield* HttpTransport.make({
      provider,
      baseUrl: options.baseUrl ?? defaultBaseUrl,
      authorize: HttpClientRequest.bearerToken(options.token),
      classify,
      timeout: options.timeout
    })
    // Media is fetched without the gateway's base URL or token.
    const mediaClient = yield* HttpClient.HttpClient
    const limit = Math.min(Message.limits.mediaBytes, (options.bodyLimit ?? Api.defaultBodyLimit) - formOverhead)
    const fetchMedia = (message: Message.MediaMessage) =>
      HttpTransport.fetchMedia(mediaClient, message, {
        provider,
        limit,
        timeout: options.timeout,
        // Over WhatsApp's 16 MB no provider can send it; under, only this gateway's body limit is in the way.
        tooLarge: ({ at, described, exact, size }) =>
          (exact ? size > Message.limits.mediaBytes : size >= Message.limits.mediaBytes)
            ? new MessagingError.InvalidMessage({
              provider,
              field: "url",
              reason: `media at ${at} ${described}; WhatsApp allows at most ${Message.limits.mediaBytes} bytes (16 MB)`
            })
            : new MessagingError.Unsupported({
              provider,
              feature:
                `media over ${limit} bytes (media at ${at} ${described}; the gateway's body limit, HTTP_BODY_LIMIT_SIZE, leaves room for ${limit})`
            })
      })
    const simulation = options.simulation === undefined
      ? {}
      : { typing_simulation: options.simulation, presence_simulation: options.simulation }

    const sent = (r: typeof Api.SendResponse.Type): MessagingService.ProviderReceipt => ({
      messageId: r.data.message_id,
      status: "sent"
    })

    // Each media kind's endpoint and text fields (beside the `file` part).
    const form = (message: Exclude<Message.MediaMessage, Message.StickerMessage>) => {
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

    const upload = Effect.fnUntraced(function*(
      message: Exclude<Message.MediaMessage, Message.StickerMessage>,
      chat: string
    ) {
      const bytes = yield* fetchMedia(message)
      const { endpoint, fields } = form(message)
      // The gateway ignores the part's type (it stamps or sniffs its own); it is sent for the record.
      const body = yield* HttpTransport.multipart(fields, {
        field: Api.fileField,
        bytes,
        type: Message.mimeType(message),
        name: Message.filename(message)
      })
      const request = HttpClientRequest.setBody(HttpClientRequest.post(Api.chatPath(chat, endpoint)), body)
      return sent(yield* transport.execute(request, Api.SendResponse, { chat }))
    })

    const send = (
      message: Sendable
    ): Effect.Effect<MessagingService.ProviderReceipt, MessagingError.MessagingError> => {
      const refused = unsupported(message)
      if (Option.isSome(refused)) {
        return Effect.fail(new MessagingError.Unsupported({ provider, feature: refused.value }))
      }
      const chat = ChatId.toJid(message.to, "s.whatsapp.net")
      switch (message._tag) {
        case "Text":
          return Effect.map(
            transport.call(Api.sendText, { text: message.text, ...simulation }, {
              chat,
              path: Api.chatPath(chat, "messages")
            }),
            sent
          )
        case "Reaction":
          return Effect.map(
            transport.call(Api.react, { ChatJID: chat, Emoji: message.emoji }, {
              chat,
              path: Api.messagePath(message.messageId, "reaction")
            }),
            sent
          )
        case "Location":
          return Effect.map(
            transport.call(
              Api.sendLocation,
              {
                latitude: message.latitude,
                longitude: message.longitude,
                name: message.name,
                address: message.address
              },
              { chat, path: Api.chatPath(chat, "locations") }
            ),
            sent
          )
        case "Image":
        case "Video":
        case "Audio":
        case "Document":
          return upload(message, chat)
      }
    }

    return { provider, capabilities, send }
  })

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
  baseUrl: Config.String("PARLEY_MULTISESSION_BASE_URL").pipe(Config.withDefault(defaultBaseUrl)),
  token: Config.Redacted("PARLEY_MULTISESSION_TOKEN"),
  simulation: Config.option(Config.Boolean("PARLEY_MULTISESSION_SIMULATION")),
  rateLimit: RateLimit.config("PARLEY_MULTISESSION")
}).pipe(Config.map(({ simulation, ...options }) => ({ ...options, simulation: Option.getOrUndefined(simulation) })))

/**
 * `make(options)`: the service over an `HttpClient`; `layer(options)`; `layerConfig(config?)`: the
 * layer with options from `Config` (by default {@link config}).
 *
 * @since 0.1.0
 * @category layers
 */
export const { layer, layerConfig, make } = Provider.define({ driver, config })
