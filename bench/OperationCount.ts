/**
 * Effect operations per event, by the span they run under (`PARLEY_BENCH_OPS`): a figure that does not
 * vary with the machine, beside the timings that do. In the bot (`counted`), every fiber runs with
 * `RuntimeFlags.OpSupervision` and a supervisor whose `onEffect` sees each operation; on `SIGUSR2` the bot
 * prints `ops <json>` (the counts so far). The bench (`read`) asks for them before and after a run.
 * Counting slows the bot: a run that counts is for its counts, not its timings.
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as RuntimeFlagsPatch from "effect/RuntimeFlagsPatch"
import * as Supervisor from "effect/Supervisor"
import type { ChildProcess } from "node:child_process"

/** Operations so far, by span name (`(no span)` for those outside any). */
export type Counts = Record<string, number>

class Counter extends Supervisor.AbstractSupervisor<void> {
  readonly counts = new Map<string, number>()
  get value() {
    return Effect.void
  }
  override onEffect<A, E>(fiber: Fiber.RuntimeFiber<A, E>): void {
    const span = fiber.currentSpan
    const name = span?._tag === "Span" ? span.name : "(no span)"
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1)
  }
}

/**
 * The bot's main effect, counting its operations (and those of every fiber it forks) when the bench asks
 * for it (`BENCH_COUNT_OPS`); unchanged otherwise.
 */
export const counted = <A, E, R>(main: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  if (process.env.BENCH_COUNT_OPS === undefined) return main
  const counter = new Counter()
  process.on("SIGUSR2", () => console.log(`ops ${JSON.stringify(Object.fromEntries(counter.counts))}`))
  return main.pipe(
    Effect.supervised(counter),
    Effect.withRuntimeFlagsPatch(RuntimeFlagsPatch.enable(RuntimeFlags.OpSupervision))
  )
}

/** The operations a bot started with `BENCH_COUNT_OPS` has counted so far. */
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
    // Spans under half an operation per event (timers, polls) are left out of the list, not the total.
    bySpan: all.filter(([, count]) => count >= 0.5).sort((a, b) => b[1] - a[1])
  }
}
