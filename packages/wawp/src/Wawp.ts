/**
 * Parley's `MessagingService` over Wawp's v2 API (api.wawp.net), an unofficial WhatsApp Web session API.
 *
 * @example
 * ```ts
 * import { Wawp } from "@parley/wawp"
 * import { ChatId, Message, MessagingService } from "@parley/core"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Redacted } from "effect"
 *
 * const program = MessagingService.send(Message.text(ChatId.phone("+14155550123"), "Hello"))
 * program.pipe(
 *   Effect.provide(Wawp.layer({ instanceId: "A1B2C3D4E5F6", accessToken: Redacted.make(token) })),
 *   Effect.provide(NodeHttpClient.layerUndici)
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Capabilities, ChatId, Message, type MessagingService, RateLimit } from "@parley/core"
import { ErrorTable, HttpTransport, Provider } from "@parley/core/provider"
import * as Config from "effect/Config"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Api from "./WawpApi.js"

/**
 * The provider's name in receipts, errors and metrics.
 *
 * @since 0.1.0
 * @category constants
 */
export const provider = Api.provider

/**
 * The public API host.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = Api.defaultBaseUrl

/**
 * What Wawp carries: text, image and location (all three can quote), video, voice notes, documents
 * and reactions. No templates: Wawp drives a WhatsApp Web session, not the Business API. Webhooks
 * report inbound messages and acks.
 *
 * @since 0.1.0
 * @category constants
 */
export const capabilities = Capabilities.make({
  kinds: ["text", "image", "video", "audio", "document", "location", "reaction"],
  replies: ["text", "image", "location"],
  inboundMessages: true,
  statuses: ["sent", "delivered", "read", "played", "failed"]
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends MessagingService.Options {
  /** The API's base URL (default {@link defaultBaseUrl}). */
  readonly baseUrl?: string | undefined
  /** The instance (linked number) to send from. */
  readonly instanceId: string
  readonly accessToken: Redacted.Redacted
  /** The reaction endpoint, which the docs do not spell out (default `/v2/send/reaction`). */
  readonly reactionPath?: `/${string}` | undefined
  /** How long to wait for an answer (default 30 s). */
  readonly timeout?: Duration.Input | undefined
}

const decodeError = Schema.decodeUnknownOption(Api.ErrorResponse)
const isUpstreamError = Schema.is(Api.UpstreamErrorBody)

const withCode = (error: Api.ErrorResponse, fallback: string) =>
  error.error ? `${error.error}: ${error.message ?? fallback}` : fallback

/**
 * Wawp's error table. Its error body (`{ status, message, error }`, `error` a code) is read with the
 * code before the message; `{ wawp_upstream_error }` inside a 200 body is an error too.
 * `wawp_upstream_error` (as an error status or inside a 200) and a dropped session (`invalid_session`)
 * are `unavailable`; 401/403 carry their code (`quota_reached`, `subscription_required`) into
 * `Unauthorized`; a number not on WhatsApp is `recipientUnavailable`. Everything else is read by its
 * status (400 → `InvalidMessage`, …).
 *
 * @since 0.1.0
 * @category classification
 */
export const errorTable: ErrorTable.Table = {
  read: (body) => {
    if (isUpstreamError(body)) {
      const detail = body.wawp_upstream_error
      return {
        code: Api.upstreamErrorCode,
        reason: `${Api.upstreamErrorCode}: ${typeof detail === "string" ? detail : HttpTransport.describe(detail)}`
      }
    }
    return Option.getOrUndefined(Option.map(decodeError(body), (error) => ({
      code: error.error ?? error.code,
      reason: withCode(error, HttpTransport.describe(body))
    })))
  },
  rules: [
    { status: "any", code: [Api.upstreamErrorCode, "invalid_session"], outcome: "unavailable" },
    { status: [401, 403], outcome: "misconfigured" },
    { status: 429, outcome: "rateLimited" },
    { status: "4xx", text: HttpTransport.notOnWhatsApp, outcome: "recipientUnavailable" }
  ]
}

/**
 * Reads Wawp's answers by {@link errorTable}.
 *
 * @since 0.1.0
 * @category classification
 */
export const classify: HttpTransport.Classifier = ErrorTable.classifier(errorTable)

type Sendable = Message.Of<Capabilities.Kinds<typeof capabilities>>

// ack 0 is "pending": handed to WhatsApp Web, not yet on WhatsApp's server.
const receipt = (r: typeof Api.MessageResponse.Type): MessagingService.ProviderReceipt => ({
  messageId: r.id._serialized,
  status: r.ack !== undefined && r.ack >= 1 ? "sent" : "accepted"
})

const file = (message: Message.MediaMessage) => ({
  url: message.url,
  filename: Message.filename(message),
  mimetype: Message.mimeType(message)
})

const driver = (options: Options) =>
  Effect.map(
    HttpTransport.make({
      provider,
      baseUrl: options.baseUrl ?? defaultBaseUrl,
      // Credentials go in the query string and again in the JSON body (both documented placements).
      authorize: HttpClientRequest.setUrlParams({
        instance_id: options.instanceId,
        access_token: Redacted.value(options.accessToken)
      }),
      classify,
      timeout: options.timeout
    }),
    (transport) => {
      const credentials = { instance_id: options.instanceId, access_token: options.accessToken }
      const reactionPath = options.reactionPath ?? Api.defaultReactionPath
      const send = (message: Sendable) => {
        const chatId = ChatId.toJid(message.to, "c.us")
        const call = <A extends typeof Api.Credentials.Type, I>(
          endpoint: HttpTransport.Endpoint<A, I, typeof Api.MessageResponse.Type, any>,
          body: Omit<A, keyof typeof credentials>
        ) => Effect.map(transport.call(endpoint, { ...credentials, ...body } as A, { chat: chatId }), receipt)
        switch (message._tag) {
          case "Text":
            return call(Api.sendText, { chatId, message: message.text, reply_to: message.replyTo })
          case "Image":
            return call(Api.sendImage, {
              chatId,
              file: file(message),
              caption: message.caption,
              reply_to: message.replyTo
            })
          case "Video":
            return call(Api.sendVideo, { chatId, file: file(message), caption: message.caption })
          case "Audio": {
            // Voice notes are OGG/Opus; anything else is sent with `convert` so Wawp transcodes it.
            const voice = file(message)
            const convert = voice.mimetype === "audio/ogg" ? undefined : true
            return call(Api.sendVoice, { chatId, file: voice, convert })
          }
          case "Document":
            return call(Api.sendPdf, { chatId, file: file(message), caption: message.caption })
          case "Location":
            return call(Api.sendLocation, {
              chatId,
              latitude: message.latitude,
              longitude: message.longitude,
              title: message.name,
              message: message.address,
              reply_to: message.replyTo
            })
          case "Reaction":
            // The answer is undocumented; without an id, the reaction is known by the message it reacts to.
            return Effect.map(
              transport.call(
                Api.reaction,
                { ...credentials, messageId: message.messageId, reaction: message.emoji },
                { chat: chatId, path: reactionPath }
              ),
              (r) => ({
                messageId: r.id === undefined ? message.messageId : typeof r.id === "string" ? r.id : r.id._serialized,
                status: "accepted" as const
              })
            )
        }
      }
      return { provider, capabilities, send }
    }
  )

// A path setting: `/…`.
const ReactionPath = Schema.String.pipe(
  Schema.refine((path): path is `/${string}` => path.startsWith("/"), { message: "must start with /" })
)

/**
 * The settings `layerConfig` reads by default: `PARLEY_WAWP_INSTANCE_ID`, `PARLEY_WAWP_ACCESS_TOKEN`,
 * optionally `PARLEY_WAWP_BASE_URL` (default `https://api.wawp.net`), `PARLEY_WAWP_REACTION_PATH`
 * and `PARLEY_WAWP_RATE_LIMIT` / `PARLEY_WAWP_RATE_LIMIT_BURST`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  baseUrl: Config.String("PARLEY_WAWP_BASE_URL").pipe(Config.withDefault(defaultBaseUrl)),
  instanceId: Config.String("PARLEY_WAWP_INSTANCE_ID"),
  accessToken: Config.Redacted("PARLEY_WAWP_ACCESS_TOKEN"),
  reactionPath: Config.schema(ReactionPath, "PARLEY_WAWP_REACTION_PATH").pipe(
    Config.withDefault(Api.defaultReactionPath)
  ),
  rateLimit: RateLimit.config("PARLEY_WAWP")
})

/**
 * `make(options)`: the service over an `HttpClient`; `layer(options)`; `layerConfig(config?)`: the
 * layer with options from `Config` (by default {@link config}).
 *
 * @since 0.1.0
 * @category layers
 */
export const { layer, layerConfig, make } = Provider.define({ driver, config })
