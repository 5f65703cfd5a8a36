import { describe, expect, it } from "@effect/vitest"
import { CircuitBreaker } from "@parley/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"

const fail = Effect.fail("boom" as const)
const ok = Effect.succeed("ok" as const)
const always = () => true

describe("CircuitBreaker", () => {
  it.effect("opens after consecutive failures, goes half-open after the cool-down, closes on a good probe", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ consecutiveFailures: 3, cooldown: "10 seconds" })
      const subscribed = yield* Deferred.make<void>()
      const changes = yield* breaker.changes.pipe(
        Stream.tap(() => Deferred.succeed(subscribed, undefined)),
        Stream.take(4),
        Stream.runCollect,
        Effect.forkChild
      )
      yield* Deferred.await(subscribed)
      for (let i = 0; i < 3; i++) yield* Effect.flip(breaker.protect(fail, always))
      expect((yield* breaker.state)._tag).toBe("Open")
      expect(yield* breaker.isCallPermitted).toBe(false)

      const refused = yield* Effect.flip(breaker.protect(ok, always))
      expect(refused._tag).toBe("CircuitOpen")

      yield* TestClock.adjust("10 seconds")
      expect((yield* breaker.state)._tag).toBe("HalfOpen")
      expect(yield* breaker.isCallPermitted).toBe(true)
      expect(yield* breaker.protect(ok, always)).toBe("ok")
      expect((yield* breaker.state)._tag).toBe("Closed")
      expect(yield* breaker.counts).toEqual({ successes: 1, failures: 3, rejected: 1 })
      expect((yield* Fiber.join(changes)).map((s) => s._tag)).toEqual([
        "Closed",
        "Open",
        "HalfOpen",
        "Closed"
      ])
    }))

  it.effect("a failed probe re-opens for another cool-down, and only one probe goes at a time", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ consecutiveFailures: 1, cooldown: "5 seconds" })
      yield* Effect.flip(breaker.protect(fail, always))
      yield* TestClock.adjust("5 seconds")

      const slowProbe = yield* Effect.forkChild(breaker.protect(Effect.andThen(Effect.sleep("1 second"), fail), always))
      yield* TestClock.adjust("1 millis")
      expect((yield* Effect.flip(breaker.protect(ok, always)))._tag).toBe("CircuitOpen")
      yield* TestClock.adjust("1 second")
      yield* Effect.flip(Fiber.join(slowProbe))

      expect((yield* breaker.state)._tag).toBe("Open")
      yield* TestClock.adjust("4 seconds")
      expect(yield* breaker.isCallPermitted).toBe(false)
      yield* TestClock.adjust("1 second")
      expect(yield* breaker.isCallPermitted).toBe(true)
    }))

  it.effect("opens on a failure rate over a window", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({
        consecutiveFailures: 100,
        failureRate: { threshold: 0.5, window: 10, minimumCalls: 10 }
      })
      for (let i = 0; i < 9; i++) yield* Effect.result(breaker.protect(i % 2 === 0 ? fail : ok, always))
      expect((yield* breaker.state)._tag).toBe("Closed") // 5 of 9: below the minimum of 10 calls
      yield* Effect.result(breaker.protect(ok, always))
      expect((yield* breaker.state)._tag).toBe("Open") // 5 of 10 failed
    }))

  it.effect("errors that are not provider faults do not count", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ consecutiveFailures: 2 })
      for (let i = 0; i < 5; i++) yield* Effect.flip(breaker.protect(fail, () => false))
      expect((yield* breaker.state)._tag).toBe("Closed")
    }))

  it.effect("an interrupted probe frees the half-open slot", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ consecutiveFailures: 1, cooldown: "1 second" })
      yield* Effect.flip(breaker.protect(fail, always))
      yield* TestClock.adjust("1 second")
      const probe = yield* Effect.forkChild(breaker.protect(Effect.never, always))
      yield* TestClock.adjust("1 millis")
      expect(yield* breaker.isCallPermitted).toBe(false)
      yield* Fiber.interrupt(probe)
      expect(yield* breaker.isCallPermitted).toBe(true)
    }))
})
