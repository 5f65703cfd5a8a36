import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Capabilities from "../Capabilities.js"
import * as Idempotency from "../Idempotency.js"
import * as Message from "../Message.js"
import * as MessagingError from "../MessagingError.js"
import type * as MessagingService from "../MessagingService.js"
import * as Metrics from "../Metrics.js"
import * as RateLimit from "../RateLimit.js"
import { Receipt } from "../Receipt.js"
import * as Retry from "../Retry.js"
import * as Retrying from "./retry.js"

/** The idempotency store in context, else an in-process one. @internal */
export const idempotencyStore = Effect.flatMap(
  Effect.serviceOption(Idempotency.IdempotencyStore),
  Option.match({ onSome: Effect.succeed, onNone: () => Idempotency.makeMemory })
)

interface Counters {
  readonly sent: Effect.Effect<void>
  readonly failed: Effect.Effect<void>
  readonly retried: Effect.Effect<void>
}

/**
 * The counters of one provider, per message kind. Tagging a metric builds a new metric (and its series
 * key) each time: built once per kind, not once per send.
 *
 * @internal
 */
export const counters = (provider: string) => {
  const byKind = new Map<string, Counters>()
  return (kind: string): Counters => {
    let found = byKind.get(kind)
    if (found === undefined) {
      found = {
        sent: Metric.update(Metrics.tagged(Metrics.sent, provider, kind), 1),
        failed: Metric.update(Metrics.tagged(Metrics.failed, provider, kind), 1),
        retried: Metric.update(Metrics.tagged(Metrics.retried, provider, kind), 1)
      }
      byKind.set(kind, found)
    }
    return found
  }
}

const trusted = { disableChecks: true } as const

/** @internal */
export const make = <K extends Message.Kind>(
  driver: MessagingService.Driver<K>,
  options: MessagingService.Options = {}
) =>
  Effect.gen(function*() {
    const guard = yield* Idempotency.makeGuard({
      store: yield* idempotencyStore,
      namespace: driver.provider,
      window: options.idempotencyWindow ?? "24 hours"
    })
    const limit = options.rateLimit ? yield* RateLimit.make(options.rateLimit) : undefined
    const schedule = options.retry === false ? undefined : options.retry ?? Retry.defaultSchedule
    const { capabilities, provider } = driver
    const clock = yield* Clock.Clock
    const countersOf = counters(provider)
    // `missing` has checked the kind: the message is one the driver declared.
    const carry = driver.send as (
      message: Message.Message,
      context: MessagingService.AttemptContext
    ) => Effect.Effect<MessagingService.ProviderReceipt, MessagingError.MessagingError>

    // Typed values already: the checks are skipped.
    const receipt = (answer: MessagingService.ProviderReceipt) =>
      new Receipt({
        provider,
        messageId: answer.messageId,
        status: answer.status,
        at: new Date(clock.currentTimeMillisUnsafe())
      }, trusted)

    const attempts = (message: Message.Message, idempotencyKey: Option.Option<string>, count: Counters) => {
      const request = (attempt: number) => {
        const sent = carry(message, { idempotencyKey, attempt })
        return limit === undefined ? sent : limit(sent)
      }
      // Without retries there is one attempt, recorded with the span's other attributes.
      if (schedule === undefined) return Effect.map(request(1), receipt)
      // The span says one attempt (see `attributes`) until a retry says how many.
      let attempt = 0
      const once = Effect.suspend(() => {
        attempt++
        return attempt === 1 ? request(1) : Effect.andThen(
          Effect.andThen(count.retried, Effect.annotateCurrentSpan("parley.attempts", attempt)),
          request(attempt)
        )
      })
      const safeToRepeat = Option.isSome(idempotencyKey) && capabilities.idempotencyKeys
      return Effect.map(
        Retrying.afterFailure(once, {
          schedule,
          while: (error) => MessagingError.isRetryable(error, { safeToRepeat })
        }),
        receipt
      )
    }

    // The span's attributes, per kind (one object each, not one per send).
    const attributes = new Map<Message.Kind, Record<string, unknown>>(Message.kinds.map((kind) => [
      kind,
      { "parley.provider": provider, "parley.kind": kind, "parley.attempts": 1 }
    ]))

    const run = (
      message: Message.Message,
      kind: Message.Kind,
      sendOptions: MessagingService.SendOptions | undefined
    ) => {
      const count = countersOf(kind)
      const valid = Message.validate(message, provider)
      if (Result.isFailure(valid)) return Effect.andThen(count.failed, Effect.fail(valid.failure))
      const missing = Capabilities.missing(capabilities, message)
      if (Option.isSome(missing)) {
        return Effect.andThen(
          count.failed,
          Effect.fail(new MessagingError.Unsupported({ provider, feature: missing.value }))
        )
      }
      const carried = Capabilities.adapt(capabilities, message)
      const key = sendOptions?.idempotencyKey
      const sent = key === undefined
        ? attempts(carried, Option.none(), count)
        : guard.run(key, attempts(carried, Option.some(key), count))
      return Effect.tapError(Effect.tap(sent, count.sent), () => count.failed)
    }

    // The span is made without a stack trace: `Effect.fn` captures one on every call, a measurable
    // share of a send's CPU.
    const send = (message: Message.Message, sendOptions?: MessagingService.SendOptions) => {
      const kind = Message.kind(message)
      return Effect.withSpan(run(message, kind, sendOptions), "MessagingService.send", {
        attributes: attributes.get(kind)!,
        captureStackTrace: false
      })
    }

    return { provider, capabilities, send } satisfies MessagingService.Service
  })
