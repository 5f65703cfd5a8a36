/**
 * Per-provider send rate limits. A send over the limit waits its turn (it is queued, not failed), so
 * a burst of sends is smoothed to what the provider accepts instead of ending in 429s.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as RateLimiter from "effect/RateLimiter"
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
 * A token bucket: `burst` tokens, refilled at `perSecond`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Limiter, never, Scope.Scope> => {
  if (!(options.perSecond > 0)) {
    return Effect.dieMessage(`RateLimit.perSecond must be positive, got ${options.perSecond}`)
  }
  const burst = Math.max(1, Math.round(options.burst ?? options.perSecond))
  return RateLimiter.make({
    limit: burst,
    interval: `${Math.round((burst / options.perSecond) * 1000)} millis`,
    algorithm: "token-bucket"
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
    perSecond: Config.option(Config.number(`${prefix}_RATE_LIMIT`)),
    burst: Config.option(Config.integer(`${prefix}_RATE_LIMIT_BURST`))
  }).pipe(
    Config.validate({
      message: `${prefix}_RATE_LIMIT must be a positive number of messages per second`,
      validation: ({ perSecond }) => Option.match(perSecond, { onNone: () => true, onSome: (n) => n > 0 })
    }),
    Config.map(({ burst, perSecond }) =>
      Option.match(perSecond, {
        onNone: () => undefined,
        onSome: (n) => ({ perSecond: n, burst: Option.getOrUndefined(burst) })
      })
    )
  )
