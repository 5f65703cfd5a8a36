/**
 * Parley's `MessagingService` over the ChatSend API (and Wasend, which shares its contract).
 *
 * @example
 * ```ts
 * import { ChatSend } from "@parley/chatsend"
 * import { ChatId, Message, MessagingService } from "@parley/core"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Redacted } from "effect"
 *
 * const program = MessagingService.send(Message.text(ChatId.phone("+14155550123"), "Hello"))
 * program.pipe(
 *   Effect.provide(ChatSend.layer({ baseUrl: "https://api.wasend.dev", apiKey: Redacted.make(key), session: "main" })),
 *   Effect.provide(NodeHttpClient.layerUndici)
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Capabilities, ChatId, HttpTransport, Message, MessagingError, MessagingService, RateLimit } from "@parley/core"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { flow } from "effect/Function"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Api from "./ChatSendApi.js"

/**
 * The provider's name in receipts, errors and metrics.
 *
 * @since 0.1.0
 * @category constants
 */
export const provider = "chatsend"

/**
 * What ChatSend carries: text (quoting), image (quoting), video, voice, documents and reactions. No
 * templates and no locations (an unofficial WhatsApp Web API); webhooks report messages and acks.
 *
 * @since 0.1.0
 * @category constants
 */
export const capabilities: Capabilities.Capabilities = Capabilities.make({
  kinds: ["text", "image", "video", "audio", "document", "reaction"],
  replies: ["text", "image"],
  inboundMessages: true,
  statuses: ["sent", "delivered", "read", "played", "failed"],
  idempotencyKeys: false
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends MessagingService.Options {
  /** The API's base URL, e.g. `https://api.wasend.dev` or your ChatSend host. */
  readonly baseUrl: string
  readonly apiKey: Redacted.Redacted
  /** The session (linked number) to send from. */
  readonly session: string
  /** How long to wait for an answer (default 30 s). */
  readonly timeout?: Duration.DurationInput | undefined
}

// Session trouble is the gateway's, not the message's: another provider may still succeed.
const sessionProblem = /session/i

const classify: HttpTransport.Classifier = (answer) => {
  if (answer.status < 400) return undefined
  const reason = HttpTransport.describe(answer.body)
  if (
    answer.status !== 401 && answer.status !== 403 && answer.status < 500 && HttpTransport.notOnWhatsApp.test(reason)
  ) {
    return new MessagingError.RecipientUnavailable({ provider, chat: answer.chat, reason })
  }
  if ((answer.status === 404 || answer.status === 409 || answer.status === 422) && sessionProblem.test(reason)) {
    return new MessagingError.ProviderUnavailable({ provider, status: answer.status, reason })
  }
  return undefined
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
    const client = (yield* HttpClient.HttpClient).pipe(
      HttpClient.mapRequest(flow(
        HttpClientRequest.prependUrl(options.baseUrl.replace(/\/+$/, "")),
        HttpClientRequest.bearerToken(options.apiKey),
        HttpClientRequest.acceptJson
      ))
    )
    const transport = HttpTransport.make({ provider, client, classify, timeout: options.timeout })
    const { session } = options

    const call = <A, I, R, I2>(
      method: "POST" | "PUT",
      path: string,
      schema: Schema.Schema<A, I>,
      body: A,
      response: Schema.Schema<R, I2>,
      chat: string
    ) =>
      HttpClientRequest.make(method)(path).pipe(
        HttpClientRequest.schemaBodyJson(schema)(body),
        Effect.orDie,
        Effect.flatMap((request) => transport.execute(request, response, { chat }))
      )

    const send = (
      message: Message.Message
    ): Effect.Effect<MessagingService.ProviderReceipt, MessagingError.MessagingError> => {
      const to = ChatId.toE164(message.to)
      const sent = Effect.map((r: { readonly id: string }) => ({ messageId: r.id, status: "sent" as const }))
      switch (message._tag) {
        case "Text":
          return sent(call(
            "POST",
            "/sendText",
            Api.SendTextRequest,
            {
              session,
              to,
              text: message.text,
              replyTo: message.replyTo
            },
            Api.MessageResponse,
            to
          ))
        case "Image":
          return sent(call(
            "POST",
            "/sendImage",
            Api.SendImageRequest,
            {
              session,
              to,
              url: message.url,
              caption: message.caption,
              replyTo: message.replyTo
            },
            Api.MessageResponse,
            to
          ))
        case "Video":
          return sent(call(
            "POST",
            "/sendVideo",
            Api.SendVideoRequest,
            {
              session,
              to,
              url: message.url,
              caption: message.caption
            },
            Api.MessageResponse,
            to
          ))
        case "Audio":
          return sent(
            call("POST", "/sendVoice", Api.SendVoiceRequest, { session, to, url: message.url }, Api.MessageResponse, to)
          )
        case "Document":
          // `/sendFile` has no caption field; `/send` carries one as `text` beside `documentUrl`.
          return message.caption === undefined
            ? sent(call(
              "POST",
              "/sendFile",
              Api.SendFileRequest,
              {
                session,
                to,
                url: message.url,
                fileName: Message.filename(message),
                mimeType: Message.mimeType(message)
              },
              Api.MessageResponse,
              to
            ))
            : sent(call(
              "POST",
              "/send",
              Api.SendRequest,
              {
                session,
                to,
                documentUrl: message.url,
                filename: Message.filename(message),
                mimetype: Message.mimeType(message),
                text: message.caption
              },
              Api.MessageResponse,
              to
            ))
        case "Reaction":
          // The answer is undocumented; without an id, the reaction is known by the message it reacts to.
          return call(
            "PUT",
            "/reaction",
            Api.ReactionRequest,
            {
              session,
              messageId: message.messageId,
              reaction: message.emoji
            },
            Api.ReactionResponse,
            to
          ).pipe(
            Effect.map((r) => ({ messageId: r.id ?? message.messageId, status: "sent" as const }))
          )
        case "Location":
        case "Template":
          return Effect.fail(new MessagingError.Unsupported({ provider, feature: `${Message.kind(message)} messages` }))
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
 * The settings `layerConfig` reads by default: `PARLEY_CHATSEND_BASE_URL`, `PARLEY_CHATSEND_API_KEY`,
 * `PARLEY_CHATSEND_SESSION` (default `default`), and optionally `PARLEY_CHATSEND_RATE_LIMIT` /
 * `PARLEY_CHATSEND_RATE_LIMIT_BURST`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  baseUrl: Config.string("PARLEY_CHATSEND_BASE_URL"),
  apiKey: Config.redacted("PARLEY_CHATSEND_API_KEY"),
  session: Config.withDefault(Config.string("PARLEY_CHATSEND_SESSION"), "default"),
  rateLimit: RateLimit.config("PARLEY_CHATSEND")
})

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
