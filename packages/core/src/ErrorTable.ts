/**
 * How a provider's errors are classified, written once: a provider gives only its table (how to read
 * its error bodies, and rules from status, code and words to an {@link Outcome}), and
 * {@link classifier} turns the table into the `HttpTransport.Classifier` its transport uses.
 *
 * The outcomes follow one principle: what is wrong with the message stays with the message (no retry,
 * no failover: another provider would refuse it too), and what is wrong with this provider or this
 * account moves on to the next provider. A provider's own misconfiguration (a wrong phone number or
 * channel id, a token without the permission, a blocked, locked or unpaid account, a bad or expired key)
 * is `misconfigured`: an `Unauthorized` error, not retried (it will not mend itself in seconds),
 * failed over, and counted against the provider's circuit breaker. A primary that is set up wrong then
 * stops blocking every send.
 *
 * | outcome | error | retry same provider | fail over |
 * | --- | --- | --- | --- |
 * | `invalid` | `InvalidMessage` | no | no |
 * | `unsupported` | `Unsupported` | no | yes |
 * | `misconfigured` | `Unauthorized` | no | yes |
 * | `rateLimited` | `RateLimited` (with `Retry-After`) | yes | yes |
 * | `windowClosed` | `WindowClosed` | no | no |
 * | `recipientUnavailable` | `RecipientUnavailable` | no | no |
 * | `unavailable` | `ProviderUnavailable` | yes | yes |
 * | `deliveryUnknown` | `DeliveryUnknown` | no | no |
 *
 * An answer no rule matches is read by its status (`HttpTransport.classifyStatus`: 400/404/413/415/422
 * invalid, 401/402/403 misconfigured, 408/504 delivery unknown, 429 rate limited, the rest unavailable),
 * and a 2xx answer is a success unless the table says its body can carry an error.
 *
 * @example
 * ```ts
 * import { ErrorTable, HttpTransport } from "@parley/core/provider"
 *
 * const classify = ErrorTable.classifier({
 *   read: (body) => {
 *     const code = (body as { readonly error?: unknown }).error
 *     return typeof code === "string" ? { code, reason: HttpTransport.describe(body) } : undefined
 *   },
 *   rules: [
 *     { code: ["session_closed", "engine_down"], status: "any", outcome: "unavailable" },
 *     { code: "instance_not_found", outcome: "misconfigured" },
 *     { status: "4xx", text: HttpTransport.notOnWhatsApp, outcome: "recipientUnavailable" }
 *   ]
 * })
 * ```
 *
 * @since 0.1.0
 */
import type * as HttpTransport from "./HttpTransport.js"
import * as internal from "./internal/errorTable.js"
import type * as MessagingError from "./MessagingError.js"

/**
 * What an error says about a send, and so which `MessagingError` it is (see the module
 * documentation's table).
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome =
  | "invalid"
  | "unsupported"
  | "misconfigured"
  | "rateLimited"
  | "windowClosed"
  | "recipientUnavailable"
  | "unavailable"
  | "deliveryUnknown"

/**
 * Which HTTP statuses a rule is for: one, several, a class, or `any` (2xx included). A rule without
 * statuses is for every error status (and for 2xx answers whose body the table reads as an error).
 *
 * @since 0.1.0
 * @category models
 */
export type Statuses = number | ReadonlyArray<number> | "2xx" | "4xx" | "5xx" | "any"

/**
 * What a provider's error body says, as its table reads it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Reading {
  /** The provider's error code (Meta's `error.code`, Wawp's `error`). */
  readonly code?: number | string | undefined
  /** A finer code (Meta's `error.error_subcode`). */
  readonly subcode?: number | undefined
  /** The reason errors carry; absent: `HttpTransport.describe` of the body. */
  readonly reason?: string | undefined
}

/**
 * One row of a table: when an answer matches every condition given (statuses, code, subcode, words in
 * the reason), it is that {@link Outcome}. The first matching rule wins.
 *
 * @since 0.1.0
 * @category models
 */
export interface Rule {
  readonly outcome: Outcome
  readonly status?: Statuses | undefined
  readonly code?: number | string | ReadonlyArray<number | string> | undefined
  readonly subcode?: number | ReadonlyArray<number> | undefined
  readonly text?: RegExp | undefined
  /** For `invalid`: the field at fault (default `body`). */
  readonly field?: string | undefined
  /** For `unsupported`: what this provider cannot carry (default `this message`). */
  readonly feature?: string | undefined
}

/**
 * A provider's error table.
 *
 * @since 0.1.0
 * @category models
 */
export interface Table {
  /** Reads the error a body carries; `undefined` when it carries none the provider defines. */
  readonly read?: ((body: unknown) => Reading | undefined) | undefined
  readonly rules: ReadonlyArray<Rule>
  /**
   * Which 2xx bodies are errors all the same (a reseller relaying Meta's error object in a 200): they
   * are classified by every rule, and as `invalid` when none matches. Without it, a 2xx answer meets only
   * the rules that name a 2xx status (`2xx`, `any`, or one of 200-299).
   */
  readonly successErrors?: ((body: unknown) => boolean) | undefined
}

/**
 * The classifier of a table, for `HttpTransport.make({ classify })`. Rules are matched per answer in
 * order; a 2xx answer the table does not claim costs one status check.
 *
 * @since 0.1.0
 * @category constructors
 */
export const classifier: (table: Table) => HttpTransport.Classifier = internal.classifier

/**
 * The error an outcome is, for an answer (its provider, status, chat and `Retry-After`) and a reason.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toError: (
  outcome: Outcome,
  answer: HttpTransport.Answer,
  reason: string,
  rule?: Pick<Rule, "field" | "feature">
) => MessagingError.MessagingError = internal.toError
