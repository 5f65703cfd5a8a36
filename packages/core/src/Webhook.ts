/**
 * The contract between a provider's webhook module and `WebhookServer`: the raw request a handler
 * sees, what it answers (events, or a refusal with a status), and the GET verification some providers
 * make before they post (Meta's `hub.challenge`). Provider packages build handlers with
 * `@parley/core/provider`'s `ProviderWebhook`; a bot passes them to `WebhookServer`.
 *
 * The rule every handler follows: a delivery that passed verification is never refused for its shape
 * (a 4xx makes providers deliver again, then drop the event). What can be read is kept, a message whose
 * content cannot be read becomes `UnavailableContent`, what cannot be addressed to a chat is logged and
 * skipped, and only a body that is not JSON is a 400.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { InboundEvent } from "./InboundEvent.js"

/**
 * A webhook request as received, before any parsing.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebhookRequest {
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly query: Readonly<Record<string, string | undefined>>
  /** The path segment after `/webhooks/<provider>/`, when the URL carries a secret token. */
  readonly pathToken: string | undefined
  /** The raw body, exactly as received (signatures are over these bytes). */
  readonly body: Uint8Array
}

/**
 * Why a webhook request was refused: `400` malformed (not JSON, unreadable, a verification request
 * without its parameters), `401` not authentic, `403` a verification request with the wrong token,
 * `413` too large, `503` cannot be handled right now: deliver again later. A verified delivery of a
 * shape Parley did not expect is never refused.
 *
 * @since 0.1.0
 * @category errors
 */
export class WebhookError extends Schema.TaggedError<WebhookError>()("WebhookError", {
  provider: Schema.String,
  status: Schema.Literals([400, 401, 403, 413, 503]),
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.provider} webhook rejected (${this.status}): ${this.reason}`
  }
}

/**
 * What a provider package exports for inbound traffic.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebhookHandler {
  readonly provider: string
  /** Checks the request is authentic (signature or token). */
  readonly verify: (request: WebhookRequest) => Effect.Effect<void, WebhookError>
  /**
   * Turns a verified request into events (possibly none, e.g. for events Parley ignores). Fails only for
   * a body that is not JSON: what cannot be read is kept as unavailable content or skipped.
   */
  readonly decode: (request: WebhookRequest) => Effect.Effect<ReadonlyArray<InboundEvent>, WebhookError>
  /**
   * Answers a `GET` to the webhook URL, for providers that verify the endpoint before posting to it
   * (Meta: `hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`): the text to answer with (200), or a
   * refusal (`403` wrong token, `400` missing parameters). Absent: the provider makes no such request,
   * and a `GET` is a 404.
   */
  readonly challenge?: ((request: WebhookRequest) => Effect.Effect<string, WebhookError>) | undefined
}
