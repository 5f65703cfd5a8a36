import * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"

/**
 * `Effect.retry(effect, { schedule, while })`, with the schedule's driver made at the first failure that
 * `while` accepts instead of on every run: a run that succeeds (nearly every one) costs nothing more,
 * where `Effect.retry` builds the schedule's options, steps and metadata on every run. The first failure
 * is the schedule's first input, as with `Effect.retry`; a failure `while` refuses ends the effect
 * unretried.
 *
 * @internal
 */
export const afterFailure = <A, E, R, Out, SE, R2, R3 = never>(
  effect: Effect.Effect<A, E, R>,
  options: {
    readonly schedule: Schedule.Schedule<Out, E, SE, R2>
    readonly while: (error: E) => boolean
    /** Runs on every failure `while` accepts, the first included (e.g. to log it). */
    readonly onFailure?: ((error: E) => Effect.Effect<void, never, R3>) | undefined
  }
): Effect.Effect<A, E | SE, R | R2 | R3> =>
  Effect.catchIf(effect, options.while, (first) => {
    let replay = true
    const again = Effect.suspend(() => {
      if (!replay) return effect
      replay = false
      return Effect.fail(first)
    })
    const { onFailure } = options
    const attempt = onFailure === undefined
      ? again
      : Effect.tapError(again, (error) => options.while(error) ? onFailure(error) : Effect.void)
    return Effect.retry(attempt, { schedule: options.schedule, while: options.while })
  })
