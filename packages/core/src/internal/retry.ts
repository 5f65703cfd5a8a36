import * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"

/**
 * `Effect.retry(effect, { schedule, while })`, with the schedule's driver made at the first failure that
 * `while` accepts instead of on every run: a run that succeeds (nearly every one) costs nothing more,
 * where `Effect.retry` costs about 5 µs of CPU per run. The first failure is the schedule's first input,
 * as with `Effect.retry`; a failure `while` refuses ends the effect unretried.
 *
 * @internal
 */
export const afterFailure = <A, E, R, Out, R2>(
  effect: Effect.Effect<A, E, R>,
  options: {
    readonly schedule: Schedule.Schedule<Out, E, R2>
    readonly while: (error: E) => boolean
  }
): Effect.Effect<A, E, R | R2> =>
  Effect.catchIf(effect, options.while, (first) => {
    let replay = true
    const again = Effect.suspend(() => {
      if (!replay) return effect
      replay = false
      return Effect.fail(first)
    })
    return Effect.retry(again, options)
  })
