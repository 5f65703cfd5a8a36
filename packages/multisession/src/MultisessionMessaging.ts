/**
 * Parley's `MessagingService` over the self-hosted `go-whatsapp-multi-session-rest-api` gateway
 * (whatsmeow behind a Go/Fiber REST API), authenticated with a device JWT.
 *
 * Media goes up as multipart uploads: the client fetches the message's URL with the same `HttpClient`
 * (streamed, capped at WhatsApp's 16 MB) and posts the bytes. The form is encoded to its multipart
 * bytes by the platform's own `Response` before it is handed to the `HttpClient`: a `FormData` object
 * is sent correctly only by a client of the same undici realm (Node's bundled undici for
 * `NodeHttpClient.layer`, the npm `undici` for `layerUndici`, and the two differ between Node 20 and 24).
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
 * What the gateway carries: text (quoting through `/messages/{id}/reply`), image, video, audio,
 * document, location and reactions; no templates (it is an unofficial WhatsApp Web client). Webhooks
 * report user messages and delivered/read/played receipts; there is no "failed" event.
 *
 * @since 0.1.0
 * @category constants
 */
export const capabilities: Capabilities.Capabilities = Capabilities.make({
  kinds: ["text", "image", "video", "audio", "document", "location", "reaction"],
  replies: ["text"],
  inboundMessages: true,
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

// whatsmeow's answer for a number that is not on WhatsApp, and the gateway's phone validation.
const notOnWhatsApp = /not registered|phone number (must|cannot)/i
// The gateway's media size check (`… exceeds maximum allowed size`).
const tooLarge = /exceeds maximum allowed size/i

// A 500 is the gateway's answer to any send failure. Most mean the device is down (`WhatsApp Client is
// not Logged In` / `not Connected` / `not Valid`): ProviderUnavailable, the default for 5xx.
const classify: HttpTransport.Classifier = (answer) => {
  if (answer.status < 400) return undefined
  const reason = reasonOf(answer.body)
  if (answer.status >= 500 && notOnWhatsApp.test(reason)) {
    return new MessagingError.RecipientUnavailable({ provider, chat: answer.chat, reason })
  }
  if (answer.status >= 500 && tooLarge.test(reason)) {
    return new MessagingError.InvalidMessage({ provider, field: "url", reason, status: answer.status })
  }
  return HttpTransport.classifyStatus({ ...answer, body: reason })
}

/**
 * The HTTP transport to the gateway: base URL, Bearer token and error mapping. Shared by the client and
 * the webhook handler, which reads message content from the gateway.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeTransport = (
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

interface Media {
  readonly bytes: Uint8Array
  readonly mimeType: string
}

interface Download {
  readonly size: number
  readonly chunks: Array<Uint8Array>
}

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

const contentType = (response: HttpClientResponse.HttpClientResponse) => {
  const type = response.headers["content-type"]?.split(";")[0]?.trim().toLowerCase()
  return type && type !== "application/octet-stream" ? type : undefined
}

/**
 * Downloads a message's media with `client`, streamed and capped at 16 MB. A 4xx from the media host,
 * or media over the cap, is `InvalidMessage` (no provider can send it); a 5xx, 429, timeout or
 * connection failure is `ProviderUnavailable` (nothing was sent, so it is safe to retry).
 */
const fetchMedia = (client: HttpClient.HttpClient, message: MediaMessage, timeout: Duration.Duration) => {
  const limit = Message.limits.mediaBytes
  const at = where(message.url)
  const invalid = (reason: string) =>
    new MessagingError.InvalidMessage({ provider, field: "url", reason: `media at ${at} ${reason}` })
  const unavailable = (reason: string, status?: number) =>
    new MessagingError.ProviderUnavailable({
      provider,
      reason: `media at ${at} ${reason}`,
      ...(status === undefined ? {} : { status })
    })
  const tooBig = (size: string) => invalid(`is ${size}; WhatsApp allows at most ${limit} bytes (16 MB)`)
  const read = (
    response: HttpClientResponse.HttpClientResponse
  ): Effect.Effect<
    Media,
    MessagingError.InvalidMessage | MessagingError.ProviderUnavailable | HttpClientError.ResponseError
  > => {
    const { status } = response
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      return Effect.fail(invalid(`could not be fetched: the host answered ${status}`))
    }
    if (status < 200 || status >= 300) {
      return Effect.fail(unavailable(`could not be fetched: the host answered ${status}`, status))
    }
    const declared = Number(response.headers["content-length"])
    if (declared > limit) return Effect.fail(tooBig(`${declared} bytes`))
    return response.stream.pipe(
      Stream.runFoldEffect<Download, Uint8Array, MessagingError.InvalidMessage, never>(
        { size: 0, chunks: [] },
        (acc, chunk) => {
          const size = acc.size + chunk.length
          if (size > limit) return Effect.fail(tooBig(`more than ${limit} bytes`))
          acc.chunks.push(chunk)
          return Effect.succeed({ size, chunks: acc.chunks })
        }
      ),
      Effect.map(({ chunks, size }): Media => {
        const bytes = new Uint8Array(size)
        let offset = 0
        for (const chunk of chunks) {
          bytes.set(chunk, offset)
          offset += chunk.length
        }
        return { bytes, mimeType: message.mimeType ?? contentType(response) ?? Message.mimeType(message) }
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
      duration: timeout,
      onTimeout: () => unavailable(`did not arrive within ${Duration.format(timeout)}`)
    }),
    Effect.catchTags({ RequestError: transportFailure, ResponseError: transportFailure })
  )
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
    const timeout = Duration.decode(options.timeout ?? "30 seconds")
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
    const form = (message: MediaMessage, media: Media) => {
      switch (message._tag) {
        case "Image":
        case "Video":
          return {
            endpoint: Api.mediaEndpoints[message._tag === "Image" ? "image" : "video"],
            fields: Schema.encodeSync(Api.CaptionedForm)({ caption: message.caption, ...simulation })
          }
        case "Audio":
          // WhatsApp plays only Ogg/Opus as voice notes; anything else goes as an audio file.
          return {
            endpoint: Api.mediaEndpoints.audio,
            fields: Schema.encodeSync(Api.AudioForm)({ voice_note: media.mimeType === "audio/ogg", ...simulation })
          }
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
        const media = yield* fetchMedia(mediaClient, message, timeout)
        const { endpoint, fields } = form(message, media)
        const body = new FormData()
        for (const [key, value] of Object.entries(fields)) {
          if (value !== undefined) body.append(key, value)
        }
        body.append(Api.fileField, new Blob([media.bytes], { type: media.mimeType }), Message.filename(message))
        const encoded = new Response(body)
        const bytes = new Uint8Array(yield* Effect.promise(() => encoded.arrayBuffer()))
        const request = HttpClientRequest.post(Api.chatPath(chat, endpoint)).pipe(
          HttpClientRequest.bodyUint8Array(bytes, encoded.headers.get("content-type") ?? undefined)
        )
        return yield* sent(transport.execute(request, Api.SendResponse, { chat }))
      })

    const send = (
      message: Message.Message
    ): Effect.Effect<MessagingService.ProviderReceipt, MessagingError.MessagingError> => {
      const chat = ChatId.toJid(message.to, "s.whatsapp.net")
      switch (message._tag) {
        case "Text":
          // `reply_to_message_id` on the send endpoint is ignored by the gateway: quote through `/reply`.
          return message.replyTo === undefined
            ? post(Api.chatPath(chat, "messages"), Api.SendTextRequest, { text: message.text, ...simulation }, chat)
            : post(
              Api.messagePath(message.replyTo, "reply"),
              Api.ReplyRequest,
              { chat_jid: chat, text: message.text, ...simulation },
              chat
            )
        case "Reaction":
          return post(
            Api.messagePath(message.messageId, "reaction"),
            Api.ReactionRequest,
            { chat_jid: chat, emoji: message.emoji },
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
 * `PARLEY_MULTISESSION_BASE_URL` (default `http://localhost:7001`) and `PARLEY_MULTISESSION_TOKEN`
 * (the device JWT), which the webhook handler also reads.
 *
 * @since 0.1.0
 * @category config
 */
export const connectionConfig: Config.Config<ConnectionOptions> = Config.all({
  baseUrl: Config.withDefault(Config.string("PARLEY_MULTISESSION_BASE_URL"), defaultBaseUrl),
  token: Config.redacted("PARLEY_MULTISESSION_TOKEN")
})

/**
 * The settings `layerConfig` reads by default: {@link connectionConfig}, and optionally
 * `PARLEY_MULTISESSION_SIMULATION` (`true`/`false`) and `PARLEY_MULTISESSION_RATE_LIMIT` /
 * `PARLEY_MULTISESSION_RATE_LIMIT_BURST`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  connection: connectionConfig,
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
