/**
 * The engine's timer loop: a fiber sleeps until the next timer this engine knows of (at most a poll
 * interval, for timers other instances add), then fires what is due (each timer becomes an event of its
 * chat, enqueued once however many engines fire it), reads when the next one is, and starts the next sleep.
 * A commit that sets an earlier timer re-arms the sleep itself ({@link Timers.changed}), with no read: the
 * new sleep starts in the committing worker, before it goes on (so a test clock moved once the commit is
 * seen finds it), and the earlier sleep is interrupted.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import type * as Store from "./store.js"

/** @internal */
export interface Timers {
  /** Fires what is due and arms the sleep until the next timer. */
  readonly start: Effect.Effect<void>
  /** A commit set a timer at `at`: the sleep is re-armed if it is sooner. */
  readonly changed: (at: number) => Effect.Effect<void>
}

/** @internal */
export const make = (options: {
  readonly store: Store.Service
  readonly clock: Clock.Clock
  readonly pollMillis: number
  /** Where the sleeps run (the engine's fibers). */
  readonly fibers: FiberSet.FiberSet<unknown, unknown>
}): Timers => {
  const { clock, fibers, pollMillis, store } = options

  const fireDue = Effect.gen(function*() {
    const due = yield* store.dueTimers(yield* Clock.currentTimeMillis, 100)
    for (const timer of due) yield* store.fireTimer(timer, yield* Clock.currentTimeMillis)
  }).pipe(Effect.catchCause((cause) => Effect.logError("timer poll failed", cause)))

  let sleeper: { readonly at: number; fiber: Fiber.Fiber<unknown> | undefined } | undefined
  let stepping = false
  // The earliest timer committed while a step ran (its read may have missed it).
  let committed = Infinity

  const arm = (timer: number): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (stepping) {
        committed = Math.min(committed, timer)
        return Effect.void
      }
      const now = clock.currentTimeMillisUnsafe()
      const at = Math.min(timer, now + pollMillis)
      if (sleeper !== undefined && sleeper.at <= at) return Effect.void
      const previous = sleeper
      const next: NonNullable<typeof sleeper> = { at, fiber: undefined }
      sleeper = next
      if (previous?.fiber !== undefined) previous.fiber.interruptUnsafe()
      const wake = Effect.suspend(() => {
        if (sleeper !== next) return Effect.void
        sleeper = undefined
        return step
      })
      // (Started at once: the sleep is registered before `FiberSet.run` returns.)
      return Effect.map(
        FiberSet.run(fibers, Effect.andThen(Effect.sleep(Math.max(at - now, 0)), wake)),
        (fiber) => {
          next.fiber = fiber
        }
      )
    })

  // Fires what is due and arms the next sleep. The clock is read once the next timer is known, right
  // before the sleep starts: a clock that moved during the read (a test clock's jump) shortens the
  // sleep instead of being missed.
  const step: Effect.Effect<void> = Effect.gen(function*() {
    stepping = true
    yield* fireDue
    const next = yield* Effect.orElseSucceed(store.nextTimerAt, () => Option.none<number>())
    stepping = false
    const at = Math.min(Option.getOrElse(next, () => Infinity), committed)
    committed = Infinity
    yield* arm(at)
  })

  return { start: step, changed: arm }
}
