/**
 * The service a bot sends through. A provider package supplies a narrow {@link Driver} (one request
 * per message); {@link make} wraps it with what every provider needs: validation and capability
 * checks before I/O, idempotency, rate limiting, the retry schedule, spans and metrics.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Capabilities from "./Capabilities.js"
import * as Idempotency from "./Idempotency.js"
import * as Message from "./Message.js"
import * as MessagingError from "./MessagingError.js"
import * as Metrics from "./Metrics.js"
import * as RateLimit from "./RateLimit.js"
import { Receipt } from "./Receipt.js"
import * as Retry from "./Retry.js"

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
export class MessagingService extends Context.Tag("@parley/core/MessagingService")<MessagingService, Service>() {}

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
  Effect.flatMap(MessagingService, (service) => service.send(message, options))

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
 * The narrow part a provider package writes: one request per message, errors already mapped to
 * `MessagingError`. Validation, capability checks, retries and the rest come from {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Driver {
  readonly provider: string
  readonly capabilities: Capabilities.Capabilities
  readonly send: (
    message: Message.Message,
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
  readonly idempotencyWindow?: Duration.DurationInput | undefined
}

/**
 * Builds the service from a driver. The `IdempotencyStore` in context is used when there is one,
 * otherwise an in-process store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (driver: Driver, options: Options = {}): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const store = yield* Effect.serviceOption(Idempotency.IdempotencyStore).pipe(
      Effect.flatMap(Option.match({ onSome: Effect.succeed, onNone: () => Idempotency.makeMemory }))
    )
    const guard = yield* Idempotency.makeGuard({
      store,
      namespace: driver.provider,
      window: options.idempotencyWindow ?? "24 hours"
    })
    const limit: RateLimit.Limiter = options.rateLimit ? yield* RateLimit.make(options.rateLimit) : (effect) => effect
    const schedule = options.retry === false ? undefined : options.retry ?? Retry.defaultSchedule
    const { provider } = driver

    const attempts = (message: Message.Message, idempotencyKey: Option.Option<string>, kind: string) =>
      Effect.gen(function*() {
        let attempt = 0
        const once = Effect.suspend(() => {
          attempt++
          const request = limit(driver.send(message, { idempotencyKey, attempt }))
          return attempt === 1
            ? request
            : Effect.zipRight(Metric.increment(Metrics.tagged(Metrics.retried, provider, kind)), request)
        })
        const safeToRepeat = Option.isSome(idempotencyKey) && driver.capabilities.idempotencyKeys
        const result = yield* (schedule === undefined ? once : Effect.retry(once, {
          schedule,
          while: (error) => MessagingError.isRetryable(error, { safeToRepeat })
        })).pipe(Effect.ensuring(Effect.annotateCurrentSpan("parley.attempts", attempt)))
        // Typed values already: validating them again would rebuild the class's parser on every send
        // (its fields include a transformation, so each validation derives a new type AST).
        return new Receipt({
          provider,
          messageId: result.messageId,
          status: result.status,
          at: new Date(yield* Clock.currentTimeMillis)
        }, true)
      })

    const send = Effect.fn("MessagingService.send")(
      function*(message: Message.Message, sendOptions?: SendOptions) {
        const kind = Message.kind(message)
        yield* Effect.annotateCurrentSpan({ "parley.provider": provider, "parley.kind": kind })
        const valid = Message.validate(message, provider)
        if (Either.isLeft(valid)) return yield* valid.left
        const missing = Capabilities.missing(driver.capabilities, message)
        if (Option.isSome(missing)) {
          return yield* new MessagingError.Unsupported({ provider, feature: missing.value })
        }
        const key = Option.fromNullable(sendOptions?.idempotencyKey)
        return yield* Option.match(key, {
          onNone: () => attempts(message, key, kind),
          onSome: (k) => guard.run(k, attempts(message, key, kind))
        })
      },
      (effect, message) => {
        const kind = Message.kind(message)
        return effect.pipe(
          Effect.tapBoth({
            onSuccess: () => Metric.increment(Metrics.tagged(Metrics.sent, provider, kind)),
            onFailure: () => Metric.increment(Metrics.tagged(Metrics.failed, provider, kind))
          })
        )
      }
    )

    return MessagingService.of({ provider, capabilities: driver.capabilities, send })
  })
