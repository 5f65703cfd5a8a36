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
import { Capabilities, ChatId, Message, type MessagingService, RateLimit } from "@parley/core"
import { ErrorTable, HttpTransport, Provider } from "@parley/core/provider"
import * as Config from "effect/Config"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as Redacted from "effect/Redacted"
import * as Api from "./ChatSendApi.js"

/**
 * The provider's name in receipts, errors and metrics.
 *
 * @since 0.1.0
 * @category constants
 */
export const provider = Api.provider

/**
 * What ChatSend carries: text (quoting), image (quoting), video, voice, documents and reactions. No
 * templates and no locations (an unofficial WhatsApp Web API); webhooks report messages and acks.
 *
 * @since 0.1.0
 * @category constants
 */
export const capabilities = Capabilities.make({
  kinds: ["text", "image", "video", "audio", "document", "reaction"],
  replies: ["text", "image"],
  inboundMessages: true,
  statuses: ["sent", "delivered", "read", "played", "failed"]
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
  readonly timeout?: Duration.Input | undefined
}

/**
 * ChatSend's error table (its errors are documented only as a status with JSON or text): a number not
 * on WhatsApp is recognised by its words in any 4xx but the key's (401, 403); a 404, 409 or 422 about
 * the session (not found, not started, logged out) is the gateway's, not the message's: another
 * provider may still succeed, and this one once the session is back.
 *
 * @since 0.1.0
 * @category classification
 */
export const errorTable: ErrorTable.Table = {
  rules: [
    { status: [401, 403], outcome: "misconfigured" },
    { status: "4xx", text: HttpTransport.notOnWhatsApp, outcome: "recipientUnavailable" },
    { status: [404, 409, 422], text: /session/i, outcome: "unavailable" }
  ]
}

const classify = ErrorTable.classifier(errorTable)

const driver = (options: Options) =>
  Effect.map(
    HttpTransport.make({
      provider,
      baseUrl: options.baseUrl,
      authorize: HttpClientRequest.bearerToken(options.apiKey),
      classify,
      timeout: options.timeout
    }),
    (transport) => {
      const { session } = options
      const sent = (r: typeof Api.MessageResponse.Type) => ({ messageId: r.id, status: "sent" as const })
      const send = (message: Message.Of<Capabilities.Kinds<typeof capabilities>>) => {
        const to = ChatId.toE164(message.to)
        const call = <A, I>(endpoint: HttpTransport.Endpoint<A, I, typeof Api.MessageResponse.Type, any>, body: A) =>
          Effect.map(transport.call(endpoint, body, { chat: to }), sent)
        switch (message._tag) {
          case "Text":
            return call(Api.sendText, { session, to, text: message.text, replyTo: message.replyTo })
          case "Image":
            return call(Api.sendImage, {
              session,
              to,
              url: message.url,
              caption: message.caption,
              replyTo: message.replyTo
            })
          case "Video":
            return call(Api.sendVideo, { session, to, url: message.url, caption: message.caption })
          case "Audio":
            return call(Api.sendVoice, { session, to, url: message.url })
          case "Document": {
            const named = { filename: Message.filename(message), mimeType: Message.mimeType(message) }
            // `/sendFile` has no caption field; `/send` carries one as `text` beside `documentUrl`.
            return message.caption === undefined
              ? call(Api.sendFile, {
                session,
                to,
                url: message.url,
                fileName: named.filename,
                mimeType: named.mimeType
              })
              : call(Api.sendAny, {
                session,
                to,
                documentUrl: message.url,
                filename: named.filename,
                mimetype: named.mimeType,
                text: message.caption
              })
          }
          case "Reaction":
            // The answer is undocumented; without an id, the reaction is known by the message it reacts to.
            return Effect.map(
              transport.call(Api.reaction, { session, messageId: message.messageId, reaction: message.emoji }, {
                chat: to
              }),
              (r) => ({ messageId: r.id ?? message.messageId, status: "sent" as const })
            )
        }
      }
      return { provider, capabilities, send }
    }
  )

/**
 * The settings `layerConfig` reads by default: `PARLEY_CHATSEND_BASE_URL`, `PARLEY_CHATSEND_API_KEY`,
 * `PARLEY_CHATSEND_SESSION` (default `default`), and optionally `PARLEY_CHATSEND_RATE_LIMIT` /
 * `PARLEY_CHATSEND_RATE_LIMIT_BURST`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  baseUrl: Config.String("PARLEY_CHATSEND_BASE_URL"),
  apiKey: Config.Redacted("PARLEY_CHATSEND_API_KEY"),
  session: Config.String("PARLEY_CHATSEND_SESSION").pipe(Config.withDefault("default")),
  rateLimit: RateLimit.config("PARLEY_CHATSEND")
})

/**
 * `make(options)`: the service over an `HttpClient`; `layer(options)`; `layerConfig(config?)`: the
 * layer with options from `Config` (by default {@link config}).
 *
 * @since 0.1.0
 * @category layers
 */
export const { layer, layerConfig, make } = Provider.define({ driver, config })
