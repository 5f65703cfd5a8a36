/**
 * Parley's `MessagingService` over the Callbell API (`POST /messages/send`), plus {@link status} for
 * `GET /messages/status/{uuid}`. Callbell queues every message: a send is `accepted` with the message
 * `uuid`, and the outcome arrives by webhook (`message_status_updated`) or {@link status}.
 *
 * @example
 * ```ts
 * import { Callbell } from "@parley/callbell"
 * import { ChatId, Message, MessagingService } from "@parley/core"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Redacted } from "effect"
 *
 * const program = MessagingService.send(Message.text(ChatId.phone("+14155550123"), "Hello"))
 * program.pipe(
 *   Effect.provide(Callbell.layer({ apiKey: Redacted.make(key), channelUuid: "b3c9…" })),
 *   Effect.provide(NodeHttpClient.layerUndici)
 * )
 * ```
 *
 * @since 0.1.0
 */
import {
  Capabilities,
  ChatId,
  type InboundEvent,
  type Message,
  type MessagingError,
  type MessagingService,
  RateLimit
} from "@parley/core"
import { ErrorTable, HttpTransport, Provider } from "@parley/core/provider"
import * as Config from "effect/Config"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { createHash } from "node:crypto"
import * as Api from "./CallbellApi.js"

/**
 * The provider's name in receipts, errors and metrics.
 *
 * @since 0.1.0
 * @category constants
 */
export const provider = Api.provider

/**
 * The public API's base URL.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = Api.defaultBaseUrl

/**
 * The `metadata` key that carries the caller's idempotency key (echoed in status webhooks). Callbell
 * does not deduplicate on it.
 *
 * @since 0.1.0
 * @category constants
 */
export const idempotencyKeyField = "parley_idempotency_key"

/**
 * What Callbell carries: text, image, video, audio and documents (video and audio as `document`
 * attachments, as the docs show) and approved templates. No replies, locations or reactions can be
 * sent; webhooks report inbound messages and `sent`/`delivered`/`read`/`failed`. The API accepts no
 * idempotency key, so a send that ends in `DeliveryUnknown` is not retried.
 *
 * @since 0.1.0
 * @category constants
 */
export const capabilities = Capabilities.make({
  kinds: ["text", "image", "video", "audio", "document", "template"],
  chats: ["phone"],
  inboundMessages: true,
  statuses: ["sent", "delivered", "read", "failed"]
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends MessagingService.Options {
  /** Default {@link defaultBaseUrl}. */
  readonly baseUrl?: string | undefined
  readonly apiKey: Redacted.Redacted
  /** The channel (number) to send from; the account's main channel when absent. */
  readonly channelUuid?: string | undefined
  /** How long to wait for an answer (default 30 s). */
  readonly timeout?: Duration.Input | undefined
}

/**
 * Callbell's error table. Its error body is undocumented (the text is read with
 * `HttpTransport.describe`): among its 4xx other than the key's (401, 403) and the rate limit's (429),
 * a closed 24 h window and a number not on WhatsApp are recognised by their words, and an unknown
 * channel (`Channel <uuid> not found`: the configured `channelUuid` is wrong) is the account's
 * misconfiguration, not the message's: it fails over.
 *
 * @since 0.1.0
 * @category classification
 */
export const errorTable: ErrorTable.Table = {
  rules: [
    { status: [401, 403], outcome: "misconfigured" },
    { status: 429, outcome: "rateLimited" },
    {
      status: "4xx",
      text: /\b24.?(h|hours?|hrs?)\b|(customer.?service|conversation|messaging|session) window|re-?engagement/i,
      outcome: "windowClosed"
    },
    { status: "4xx", text: HttpTransport.notOnWhatsApp, outcome: "recipientUnavailable" },
    { status: [404, 422], text: /\bchannel\b.*\bnot found\b|\bunknown channel\b/i, outcome: "misconfigured" }
  ]
}

const classify = ErrorTable.classifier(errorTable)

// Sends and status reads share one transport: base URL, Bearer key (redacted in spans), JSON answers.
const transport = (options: Options) =>
  HttpTransport.make({
    provider,
    baseUrl: options.baseUrl ?? defaultBaseUrl,
    authorize: HttpClientRequest.bearerToken(options.apiKey),
    classify,
    timeout: options.timeout
  })

// A key longer than a metadata value may be is sent as its digest (still unique, still ≤ 500 chars).
const metadataValue = (key: string) =>
  key.length <= Api.metadataLimits.valueLength ? key : `sha256:${createHash("sha256").update(key).digest("hex")}`

type Send = typeof Api.SendRequest.Type

const body = (
  message: Message.Of<Capabilities.Kinds<typeof capabilities>>
): Pick<Send, "type" | "content" | "template_uuid" | "optin_contact" | "template_values"> => {
  switch (message._tag) {
    case "Text":
      return { type: "text", content: { text: message.text } }
    case "Image":
      return { type: "image", content: { url: message.url, text: message.caption } }
    case "Video":
    case "Document":
      return { type: "document", content: { url: message.url, text: message.caption } }
    case "Audio":
      return { type: "document", content: { url: message.url } }
    case "Template": {
      const [first, ...rest] = message.variables
      return {
        type: message.headerMedia?.kind ?? "text",
        content: { text: first, url: message.headerMedia?.url },
        template_uuid: message.name,
        optin_contact: true,
        template_values: rest.length > 0 ? message.variables : undefined
      }
    }
  }
}

const driver = (options: Options) =>
  Effect.map(transport(options), (transport) => ({
    provider,
    capabilities,
    send: (message: Message.Of<Capabilities.Kinds<typeof capabilities>>, context: MessagingService.AttemptContext) => {
      const to = ChatId.toE164(message.to)
      const request: Send = {
        to,
        from: "whatsapp",
        ...body(message),
        channel_uuid: options.channelUuid,
        metadata: Option.match(context.idempotencyKey, {
          onNone: () => undefined,
          onSome: (key) => ({ [idempotencyKeyField]: metadataValue(key) })
        })
      }
      return Effect.map(
        transport.call(Api.sendMessage, request, { chat: to }),
        (r) => ({ messageId: r.message.uuid, status: "accepted" as const })
      )
    }
  }))

/**
 * A message's status as `GET /messages/status/{uuid}` reports it.
 *
 * @since 0.1.0
 * @category models
 */
export interface StatusReport {
  readonly messageId: string
  /** Callbell's status (`enqueued`, `sent`, `delivered`, `read`, `failed`, `mismatch`, …). */
  readonly status: string
  /** The same as a core delivery status, when it is one. */
  readonly delivery: InboundEvent.DeliveryStatus | undefined
  /** Why, when `failed`. */
  readonly error: string | undefined
  /** WhatsApp's id for the message, when Callbell reports it. */
  readonly whatsappMessageId: string | undefined
}

/**
 * Asks Callbell for the status of a message sent through it (`messageId` is the receipt's), over the
 * same transport, errors and redaction as sends.
 *
 * @since 0.1.0
 * @category operations
 */
export const status: (
  options: Options,
  messageId: string
) => Effect.Effect<StatusReport, MessagingError.MessagingError, HttpClient.HttpClient> = Effect.fn("Callbell.status", {
  attributes: { "parley.provider": provider }
})(function*(options: Options, messageId: string) {
  const api = yield* transport(options)
  const { message } = yield* api.call(Api.messageStatus, undefined, {
    path: `/messages/status/${encodeURIComponent(messageId)}`
  })
  const delivery = Api.deliveryStatus(message.status)
  return {
    messageId: message.uuid,
    status: message.status,
    delivery,
    error: delivery === "failed" ? Api.failureReason(message.messageStatusPayload) : undefined,
    whatsappMessageId: message.messageStatusPayload?.payload?.whatsappMessageId
  }
})

/**
 * The settings `layerConfig` reads by default: `PARLEY_CALLBELL_API_KEY` (required),
 * `PARLEY_CALLBELL_BASE_URL` (default {@link defaultBaseUrl}), `PARLEY_CALLBELL_CHANNEL_UUID`, and
 * optionally `PARLEY_CALLBELL_RATE_LIMIT` / `PARLEY_CALLBELL_RATE_LIMIT_BURST`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  apiKey: Config.Redacted("PARLEY_CALLBELL_API_KEY"),
  baseUrl: Config.withDefault(Config.String("PARLEY_CALLBELL_BASE_URL"), defaultBaseUrl),
  channelUuid: Config.map(Config.option(Config.String("PARLEY_CALLBELL_CHANNEL_UUID")), Option.getOrUndefined),
  rateLimit: RateLimit.config("PARLEY_CALLBELL")
})

/**
 * `make(options)`: the service over an `HttpClient`; `layer(options)`; `layerConfig(config?)`: the
 * layer with options from `Config` (by default {@link config}).
 *
 * @since 0.1.0
 * @category layers
 */
export const { layer, layerConfig, make } = Provider.define({ driver, config })
