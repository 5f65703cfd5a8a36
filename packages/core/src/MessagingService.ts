/**
 * The service a bot sends through. A provider package supplies a narrow {@link Driver} (one request
 * per message); {@link make} wraps it with what every provider needs: validation and capability
 * checks before I/O, idempotency, rate limiting, the retry schedule, spans and metrics.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Capabilities from "./Capabilities.js"
import * as internal from "./internal/messagingService.js"
import type * as Message from "./Message.js"
import type * as MessagingError from "./MessagingError.js"
import type * as RateLimit from "./RateLimit.js"
import type { Receipt } from "./Receipt.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface SendOptions {
  /**
   * Sends with the same key within the idempotency window return the first receipt instead of sending
   * again; providers whose API accepts a key also get it.
   */
  readonly idempotencyKey?: string | undefined
  /** In a failover group, try this provider first (the one the chat came in on). */
  readonly preferProvider?: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The provider's name (`chatsend`, `wawp`, …; a failover group names its members). */
  readonly provider: string
  readonly capabilities: Capabilities.Capabilities
  readonly send: (
    message: Message.Message,
    options?: SendOptions
  ) => Effect.Effect<Receipt, MessagingError.MessagingError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class MessagingService extends Context.Service<MessagingService, Service>()("@parley/core/MessagingService") {}

/**
 * Sends a message through the `MessagingService` in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const send = (
  message: Message.Message,
  options?: SendOptions
): Effect.Effect<Receipt, MessagingError.MessagingError, MessagingService> =>
  MessagingService.use((service) => service.send(message, options))

/**
 * What a provider's driver is told about one attempt.
 *
 * @since 0.1.0
 * @category models
 */
export interface AttemptContext {
  /** The caller's idempotency key, to pass through where the provider's API accepts one. */
  readonly idempotencyKey: Option.Option<string>
  /** 1 for the first attempt, 2 for the first retry, … */
  readonly attempt: number
}

/**
 * A provider's answer to one send.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProviderReceipt {
  readonly messageId: string
  readonly status: "accepted" | "sent"
}

/**
 * The narrow part a provider package writes: one request per message of the kinds it declares, errors
 * already mapped to `MessagingError`. Validation, capability checks (so `send` only ever sees the kinds
 * in `capabilities`, a choice already turned into text where the provider has no buttons), retries and
 * the rest come from {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Driver<K extends Message.Kind = Message.Kind> {
  readonly provider: string
  readonly capabilities: Capabilities.Capabilities<K>
  readonly send: (
    message: Message.Of<K>,
    context: AttemptContext
  ) => Effect.Effect<ProviderReceipt, MessagingError.MessagingError>
}

/**
 * How {@link make} wraps a driver. Every provider layer accepts these.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The retry schedule (default `Retry.defaultSchedule`); `false` sends once. */
  readonly retry?: Schedule.Schedule<unknown, MessagingError.MessagingError> | false | undefined
  /** Messages per second to this provider, queued beyond; `false` or absent: no limit. */
  readonly rateLimit?: RateLimit.Options | false | undefined
  /** How long a receipt answers repeated sends with the same idempotency key (default 24 hours). */
  readonly idempotencyWindow?: Duration.Input | undefined
}

/**
 * Builds the service from a driver. The `IdempotencyStore` in context is used when there is one,
 * otherwise an in-process store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: <K extends Message.Kind>(
  driver: Driver<K>,
  options?: Options
) => Effect.Effect<Service, never, Scope.Scope> = internal.make
