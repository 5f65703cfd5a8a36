/**
 * Per-provider send rate limits. A send over the limit waits its turn (it is queued, not failed), so
 * a burst of sends is smoothed to what the provider accepts instead of ending in 429s.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as RateLimiter from "effect/persistence/RateLimiter"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Messages per second, on average. */
  readonly perSecond: number
  /** How many may go at once after a quiet spell (default: `perSecond`). */
  readonly burst?: number | undefined
}

/**
 * Wraps an effect so that it starts only when the limit allows.
 *
 * @since 0.1.0
 * @category models
 */
export type Limiter = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

/**
 * A token bucket: `burst` tokens, refilled at `perSecond`. Each limiter has its own bucket, in process
 * (Effect's `RateLimiter` over its memory store), and a send over the limit sleeps until its token is due.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Limiter, never, Scope.Scope> => {
  if (!(options.perSecond > 0)) {
    return Effect.die(new Error(`RateLimit.perSecond must be positive, got ${options.perSecond}`))
  }
  const burst = Math.max(1, Math.round(options.burst ?? options.perSecond))
  return Effect.gen(function*() {
    // A store of its own (`fresh`: layers are shared by default), for the scope's life.
    const store = yield* Layer.build(Layer.fresh(RateLimiter.layerStoreMemory))
    const limiter = yield* Effect.provideContext(RateLimiter.make, store)
    // One description, run before each send: take a token, sleeping until it is due when the bucket is
    // empty. The memory store never fails.
    const take = Effect.orDie(Effect.flatMap(
      limiter.consume({
        algorithm: "token-bucket",
        onExceeded: "delay",
        window: Duration.millis(Math.round((burst / options.perSecond) * 1000)),
        limit: burst,
        key: "send"
      }),
      ({ delay }) => Duration.isZero(delay) ? Effect.void : Effect.sleep(delay)
    ))
    return <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.andThen(take, effect)
  })
}

/**
 * Reads `<prefix>_RATE_LIMIT` (messages per second) and `<prefix>_RATE_LIMIT_BURST`; absent means no
 * limit.
 *
 * @since 0.1.0
 * @category config
 */
export const config = (prefix: string): Config.Config<Options | undefined> =>
  Config.all({
    perSecond: Config.option(Config.schema(
      Schema.Number.check(
        Schema.makeFilter((n) => n > 0 || `${prefix}_RATE_LIMIT must be a positive number of messages per second`)
      ),
      `${prefix}_RATE_LIMIT`
    )),
    burst: Config.option(Config.Int(`${prefix}_RATE_LIMIT_BURST`))
  }).pipe(
    Config.map(({ burst, perSecond }) =>
      Option.match(perSecond, {
        onNone: () => undefined,
        onSome: (n) => ({ perSecond: n, burst: Option.getOrUndefined(burst) })
      })
    )
  )
