/**
 * Effect run-loop steps per event, by the span they run under (`PARLEY_BENCH_OPS`): a figure that does
 * not vary with the machine, beside the timings that do.
 *
 * Effect 3 let a `Supervisor` see every operation (`onEffect`, with `RuntimeFlags.OpSupervision`); Effect 4
 * has neither. What it offers instead: the fiber run loop asks the fiber's `Scheduler` (a
 * `Context.Reference`, `Scheduler.Scheduler`) whether to yield before it dispatches each instruction
 * (`shouldYield(fiber)`), and the fiber tells the span it runs under (`fiber.cache.span`). So in the bot
 * (`counted`) every fiber runs with a scheduler that is Effect's own (`MixedScheduler`: the same
 * dispatching and yielding) and counts those calls by span; on `SIGUSR2` the bot prints `ops <json>` (the
 * counts so far). The bench (`read`) asks for them before and after a run.
 *
 * What is counted, then, is the instructions the run loop dispatches: continuations that Effect 4 applies
 * inline to a value already at hand (up to 32 in a row, counted in `fiber.currentOpCount` but not offered
 * to the scheduler) are part of the step that produced the value, and the first step of a fiber resumed
 * after an automatic yield is not seen. Effect 3's counts (every primitive and continuation) are not
 * comparable with these. Effect 4's other per-instruction hook, a `Tracer` with a `context` function,
 * would see every primitive too, but installing any tracer other than the native one switches on work
 * Effect skips without a tracing backend (the HTTP server's spans, with their attributes), which would be
 * counted as the bot's. Counting slows the bot: a run that counts is for its counts, not its timings.
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Scheduler from "effect/Scheduler"
import type { ChildProcess } from "node:child_process"

/** Run-loop steps so far, by span name (`(no span)` for those outside any). */
export type Counts = Record<string, number>

/** Effect's default scheduler, counting each step the run loop offers it. */
class CountingScheduler extends Scheduler.MixedScheduler {
  readonly counts = new Map<string, number>()
  override shouldYield(fiber: Fiber.Fiber<unknown, unknown>): boolean {
    const span = fiber.cache.span
    const name = span?._tag === "Span" ? span.name : "(no span)"
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1)
    return super.shouldYield(fiber)
  }
}

/**
 * The bot's main effect, counting its run-loop steps (and those of every fiber it forks) when the bench
 * asks for it (`BENCH_COUNT_OPS`); unchanged otherwise.
 */
export const counted = <A, E, R>(main: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  if (process.env.BENCH_COUNT_OPS === undefined) return main
  const scheduler = new CountingScheduler()
  process.on("SIGUSR2", () => console.log(`ops ${JSON.stringify(Object.fromEntries(scheduler.counts))}`))
  return Effect.provideService(main, Scheduler.Scheduler, scheduler)
}

/** The steps a bot started with `BENCH_COUNT_OPS` has counted so far. */
export const read = (child: ChildProcess) =>
  new Promise<Counts>((resolve, reject) => {
    let output = ""
    const timer = setTimeout(() => {
      child.stdout!.off("data", onData)
      reject(new Error("the bot printed no operation counts within 10 s: was it started with BENCH_COUNT_OPS?"))
    }, 10_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const found = /^ops (\{.*\})$/m.exec(output)
      if (found === null) return
      clearTimeout(timer)
      child.stdout!.off("data", onData)
      resolve(JSON.parse(found[1]!) as Counts)
    }
    child.stdout!.on("data", onData)
    child.kill("SIGUSR2")
  })

/** What a run added to the counts, per event: by span, most first, and in all. */
export const perEvent = (before: Counts, after: Counts, events: number) => {
  const all = Object.entries(after).map(([span, count]) => [span, (count - (before[span] ?? 0)) / events] as const)
  return {
    total: all.reduce((sum, [, count]) => sum + count, 0),
    // Spans under half a step per event (timers, polls) are left out of the list, not the total.
    bySpan: all.filter(([, count]) => count >= 0.5).sort((a, b) => b[1] - a[1])
  }
}
