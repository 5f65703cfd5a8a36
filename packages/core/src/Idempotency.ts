/**
 * Sends with the same idempotency key within a window return the first receipt instead of sending
 * again. Receipts live in an `IdempotencyStore` (in process by default; a durable store can replace
 * it); concurrent sends with one key wait for the first rather than racing it.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { Receipt } from "./Receipt.js"

/**
 * Where the first receipt of each key is kept.
 *
 * @since 0.1.0
 * @category services
 */
export class IdempotencyStore extends Context.Service<IdempotencyStore, {
  /** The receipt stored under `key`, unless absent or expired. */
  readonly get: (key: string) => Effect.Effect<Option.Option<Receipt>>
  /** Stores `receipt` under `key` for `ttl`. */
  readonly set: (key: string, receipt: Receipt, ttl: Duration.Duration) => Effect.Effect<void>
}>()("@parley/core/IdempotencyStore") {}

/**
 * An in-process store: a map with expiry, swept as it grows.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<IdempotencyStore["Service"]> = Effect.sync(() => {
  const entries = new Map<string, { readonly receipt: Receipt; readonly expires: number }>()
  let sweepAt = 1024
  return IdempotencyStore.of({
    get: (key) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const entry = entries.get(key)
        if (entry === undefined) return Option.none()
        if (entry.expires <= now) {
          entries.delete(key)
          return Option.none()
        }
        return Option.some(entry.receipt)
      }),
    set: (key, receipt, ttl) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        entries.set(key, { receipt, expires: now + Duration.toMillis(ttl) })
        if (entries.size >= sweepAt) {
          for (const [k, entry] of entries) if (entry.expires <= now) entries.delete(k)
          sweepAt = Math.max(1024, entries.size * 2)
        }
      })
  })
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<IdempotencyStore> = Layer.effect(IdempotencyStore, makeMemory)

/**
 * Runs sends at most once per key and window.
 *
 * @since 0.1.0
 * @category models
 */
export interface Guard {
  readonly run: <E, R>(key: string, send: Effect.Effect<Receipt, E, R>) => Effect.Effect<Receipt, E, R>
}

/**
 * A guard over `store`, keys prefixed with `namespace` (the provider), receipts kept for `window`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeGuard = (options: {
  readonly store: IdempotencyStore["Service"]
  readonly namespace: string
  readonly window: Duration.Input
}): Effect.Effect<Guard> =>
  Effect.sync(() => {
    const window = Duration.fromInputUnsafe(options.window)
    // Waiters share the first caller's outcome, whatever its error type.
    const inFlight = new Map<string, Deferred.Deferred<Receipt, any>>()
    const run = <E, R>(key: string, send: Effect.Effect<Receipt, E, R>): Effect.Effect<Receipt, E, R> => {
      const fullKey = `${options.namespace}:${key}`
      return Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const pending = inFlight.get(fullKey)
          if (pending !== undefined) return yield* restore(Deferred.await(pending as Deferred.Deferred<Receipt, E>))
          const deferred = yield* Deferred.make<Receipt, E>()
          inFlight.set(fullKey, deferred)
          const exit = yield* Effect.exit(restore(
            Effect.flatMap(options.store.get(fullKey), (stored) =>
              Option.match(stored, {
                onSome: Effect.succeed,
                onNone: () => Effect.tap(send, (receipt) => options.store.set(fullKey, receipt, window))
              }))
          ))
          inFlight.delete(fullKey)
          yield* Deferred.done(deferred, exit)
          return yield* exit
        })
      )
    }
    return { run }
  })
