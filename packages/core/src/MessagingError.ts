/**
 * The errors a send can end in. Each says which provider produced it and carries the facts a caller
 * needs to decide what to do next; {@link isRetryable} and {@link canFailover} encode the design's
 * retry and failover table so every layer agrees.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

const provider = Schema.String

/**
 * The message is malformed (our validation), or the provider rejected its content (a 400). Never
 * retried, never failed over: another provider would reject it too.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidMessage extends Schema.TaggedError<InvalidMessage>()("InvalidMessage", {
  provider,
  /** The offending field, as a dotted path (`text`, `headerMedia.url`); `body` for a provider rejection. */
  field: Schema.String,
  reason: Schema.String,
  status: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    return `${this.provider}: invalid message: ${this.field} ${this.reason}`
  }
}

/**
 * The provider cannot send this kind of message (per its `capabilities`). Raised before any I/O.
 *
 * @since 0.1.0
 * @category errors
 */
export class Unsupported extends Schema.TaggedError<Unsupported>()("Unsupported", {
  provider,
  /** What is missing: a message kind (`template`) or a feature (`replies`). */
  feature: Schema.String
}) {
  override get message(): string {
    return `${this.provider} cannot send ${this.feature}`
  }
}

/**
 * The key is missing, wrong, expired, or out of quota (401/403).
 *
 * @since 0.1.0
 * @category errors
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  provider,
  status: Schema.optional(Schema.Number),
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.provider}: unauthorized${this.status ? ` (${this.status})` : ""}: ${this.reason}`
  }
}

/**
 * The provider is throttling us (429, Meta 130429/131056). Retried after `retryAfter` when given.
 *
 * @since 0.1.0
 * @category errors
 */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  provider,
  status: Schema.optional(Schema.Number),
  retryAfter: Schema.optional(Schema.DurationFromMillis),
  reason: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const after = this.retryAfter ? `; retry after ${Duration.format(this.retryAfter)}` : ""
    return `${this.provider}: rate limited${after}${this.reason ? `: ${this.reason}` : ""}`
  }
}

/**
 * The 24 h customer-service window is closed: only a template can reach this chat now.
 *
 * @since 0.1.0
 * @category errors
 */
export class WindowClosed extends Schema.TaggedError<WindowClosed>()("WindowClosed", {
  provider,
  chat: Schema.String,
  reason: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `${this.provider}: the 24 h window with ${this.chat} is closed; send a template`
  }
}

/**
 * The recipient cannot receive the message: not on WhatsApp, blocked, or a bad number.
 *
 * @since 0.1.0
 * @category errors
 */
export class RecipientUnavailable extends Schema.TaggedError<RecipientUnavailable>()("RecipientUnavailable", {
  provider,
  chat: Schema.optional(Schema.String),
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.provider}: recipient ${this.chat ?? ""} unavailable: ${this.reason}`
  }
}

/**
 * The provider is down or failing (5xx, connection refused, session not logged in). The request was
 * not carried out, so it is safe to retry and to fail over.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProviderUnavailable extends Schema.TaggedError<ProviderUnavailable>()("ProviderUnavailable", {
  provider,
  status: Schema.optional(Schema.Number),
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.provider}: unavailable${this.status ? ` (${this.status})` : ""}: ${this.reason}`
  }
}

/**
 * The request was written but no answer came back (timeout, connection reset): the message may have
 * been sent. Retried only with an idempotency key the provider honours; never failed over by default.
 *
 * @since 0.1.0
 * @category errors
 */
export class DeliveryUnknown extends Schema.TaggedError<DeliveryUnknown>()("DeliveryUnknown", {
  provider,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.provider}: delivery unknown (the message may have been sent): ${this.reason}`
  }
}

/**
 * Any error a send can end in.
 *
 * @since 0.1.0
 * @category errors
 */
export type MessagingError =
  | InvalidMessage
  | Unsupported
  | Unauthorized
  | RateLimited
  | WindowClosed
  | RecipientUnavailable
  | ProviderUnavailable
  | DeliveryUnknown

/**
 * The `Schema` of {@link MessagingError}, to store or transmit errors.
 *
 * @since 0.1.0
 * @category schemas
 */
export const MessagingError = Schema.Union([
  InvalidMessage,
  Unsupported,
  Unauthorized,
  RateLimited,
  WindowClosed,
  RecipientUnavailable,
  ProviderUnavailable,
  DeliveryUnknown
])

// Each member's identifier is its tag.
const tags: ReadonlySet<string> = new Set(MessagingError.members.map((member) => member.identifier))

/**
 * @since 0.1.0
 * @category guards
 */
export const isMessagingError = (u: unknown): u is MessagingError =>
  Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" && tags.has(u._tag)

/**
 * Whether the same provider may be asked again. `DeliveryUnknown` is retryable only when the send
 * carries an idempotency key that the provider honours (`safeToRepeat`).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRetryable = (error: MessagingError, options?: { readonly safeToRepeat?: boolean }): boolean => {
  switch (error._tag) {
    case "RateLimited":
    case "ProviderUnavailable":
      return true
    case "DeliveryUnknown":
      return options?.safeToRepeat === true
    default:
      return false
  }
}

/**
 * Whether another provider may be tried after this error (once retries are spent).
 *
 * @since 0.1.0
 * @category predicates
 */
export const canFailover = (error: MessagingError): boolean => {
  switch (error._tag) {
    case "Unsupported":
    case "Unauthorized":
    case "RateLimited":
    case "ProviderUnavailable":
      return true
    default:
      return false
  }
}

/**
 * Whether an error says something about the provider's health (counted by circuit breakers), as
 * opposed to something about the message or the recipient.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isProviderFault = (error: MessagingError): boolean => {
  switch (error._tag) {
    case "Unauthorized":
    case "RateLimited":
    case "ProviderUnavailable":
    case "DeliveryUnknown":
      return true
    default:
      return false
  }
}
