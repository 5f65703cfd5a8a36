/**
 * Scriptable failures for an emulator: the next N requests, or a share of all requests, answer with a
 * server error, a 429 with `Retry-After`, a provider-specific error body, a delay, or a connection
 * dropped after the request was read (before or after the emulator carried it out).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Random from "effect/Random"

/**
 * @since 0.1.0
 * @category models
 */
export type Fault =
  /** Answer with this status and body (a 5xx, or any provider-specific error). */
  | {
    readonly _tag: "Respond"
    readonly status: number
    readonly body: unknown
    readonly headers?: Readonly<Record<string, string>> | undefined
  }
  /** Wait before handling the request normally. */
  | { readonly _tag: "Delay"; readonly duration: Duration.Duration }
  /**
   * Destroy the connection once the request is read. With `processed`, the emulator first carries the
   * request out (the message is sent, but the client never hears so).
   */
  | { readonly _tag: "Drop"; readonly processed: boolean }

/**
 * A 5xx with a JSON body.
 *
 * @since 0.1.0
 * @category constructors
 */
export const serverError = (status = 503, body: unknown = { message: "Service Unavailable" }): Fault => ({
  _tag: "Respond",
  status,
  body
})

/**
 * A 429. `retryAfter` in seconds, or a raw header value (an HTTP date); absent, no header is sent.
 *
 * @since 0.1.0
 * @category constructors
 */
export const rateLimited = (
  retryAfter?: number | string,
  body: unknown = { message: "Too Many Requests" }
): Fault => ({
  _tag: "Respond",
  status: 429,
  body,
  headers: retryAfter === undefined ? undefined : { "retry-after": String(retryAfter) }
})

/**
 * Any status with a provider-specific body.
 *
 * @since 0.1.0
 * @category constructors
 */
export const respond = (status: number, body: unknown, headers?: Readonly<Record<string, string>>): Fault => ({
  _tag: "Respond",
  status,
  body,
  headers
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const delay = (duration: Duration.Input): Fault => ({
  _tag: "Delay",
  duration: Duration.fromInputUnsafe(duration)
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const drop = (options?: { readonly processed?: boolean }): Fault => ({
  _tag: "Drop",
  processed: options?.processed ?? false
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Faults {
  /** The next `count` requests get `fault` (after any already scheduled). */
  readonly next: (count: number, fault: Fault) => Effect.Effect<void>
  /** From now on each request gets `fault` with probability `probability`; rates add up. */
  readonly rate: (probability: number, fault: Fault) => Effect.Effect<void>
  /** Removes every scheduled fault and rate. */
  readonly clear: Effect.Effect<void>
  /** The fault for the request being handled, if any (emulators call this once per request). */
  readonly take: Effect.Effect<Option.Option<Fault>>
  /** How many faults have been applied. */
  readonly applied: Effect.Effect<number>
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Faults> = Effect.sync(() => {
  const queue: Array<Fault> = []
  let rates: Array<{ readonly probability: number; readonly fault: Fault }> = []
  let applied = 0

  const fromRates = Effect.map(Random.next, (roll) => {
    let cumulative = 0
    for (const { fault, probability } of rates) {
      cumulative += probability
      if (roll < cumulative) {
        applied++
        return Option.some(fault)
      }
    }
    return Option.none<Fault>()
  })

  return {
    next: (count, fault) =>
      Effect.sync(() => {
        for (let i = 0; i < count; i++) queue.push(fault)
      }),
    rate: (probability, fault) =>
      Effect.sync(() => {
        rates = [...rates, { probability, fault }]
      }),
    clear: Effect.sync(() => {
      queue.length = 0
      rates = []
    }),
    take: Effect.suspend(() => {
      const scheduled = queue.shift()
      if (scheduled !== undefined) {
        applied++
        return Effect.succeedSome(scheduled)
      }
      return rates.length > 0 ? fromRates : Effect.succeedNone
    }),
    applied: Effect.sync(() => applied)
  }
})
