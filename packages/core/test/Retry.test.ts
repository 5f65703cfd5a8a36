import { describe, expect, it } from "@effect/vitest"
import { ChatId, Message, MessagingError, MessagingService, Retry } from "@parley/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/testing/TestClock"
import * as Tracer from "effect/Tracer"
import { scriptedDriver } from "./fixtures/drivers.js"

const to = ChatId.phone("+14155550123")
const rateLimited = (seconds: number) =>
  new MessagingError.RateLimited({ provider: "p", status: 429, retryAfter: Duration.seconds(seconds) })
const down = new MessagingError.ProviderUnavailable({ provider: "p", status: 503, reason: "down" })

describe("Retry.parseRetryAfter", () => {
  const now = Date.parse("2026-11-25T12:00:00Z")
  it("reads delta-seconds", () => {
    expect(Retry.parseRetryAfter("120", now)).toEqual(Option.some(Duration.seconds(120)))
    expect(Retry.parseRetryAfter(" 0 ", now)).toEqual(Option.some(Duration.seconds(0)))
  })
  it("reads an HTTP date relative to now, clamping the past to zero", () => {
    expect(Retry.parseRetryAfter("Wed, 25 Nov 2026 12:00:30 GMT", now)).toEqual(Option.some(Duration.millis(30_000)))
    expect(Retry.parseRetryAfter("Wed, 25 Nov 2026 11:00:00 GMT", now)).toEqual(Option.some(Duration.millis(0)))
  })
  it("ignores garbage and absence", () => {
    expect(Retry.parseRetryAfter("soon", now)).toEqual(Option.none())
    expect(Retry.parseRetryAfter("-5", now)).toEqual(Option.none())
    expect(Retry.parseRetryAfter(undefined, now)).toEqual(Option.none())
  })
})

describe("retry schedule", () => {
  it.effect("waits max(backoff, Retry-After) between attempts", () =>
    Effect.gen(function*() {
      const { calls, driver } = scriptedDriver("p", [rateLimited(5), "ok"])
      const service = yield* MessagingService.make(driver, { retry: Retry.schedule({ jitter: false }) })
      const fiber = yield* Effect.forkChild(service.send(Message.text(to, "hi")))
      yield* TestClock.adjust("4999 millis")
      expect(calls.length).toBe(1)
      yield* TestClock.adjust("1 millis")
      const receipt = yield* Fiber.join(fiber)
      expect(calls.map((c) => c.attempt)).toEqual([1, 2])
      expect(receipt.messageId).toBe("p-2")
    }))

  it.effect("the send's span says how many attempts it took", () =>
    Effect.gen(function*() {
      const native = yield* Effect.tracer
      const spans: Array<Tracer.Span> = []
      const tracer = Tracer.make({
        span: (options) => {
          const span = native.span(options)
          spans.push(span)
          return span
        },
        context: native.context
      })
      const attempts = () =>
        spans.filter((s) => s.name === "MessagingService.send").map((s) => s.attributes.get("parley.attempts"))
      const { driver } = scriptedDriver("p", [down, down, "ok", "ok"])
      const service = yield* MessagingService.make(driver, { retry: Retry.schedule({ jitter: false }) })
      const retried = yield* Effect.forkChild(Effect.withTracer(service.send(Message.text(to, "hi")), tracer))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(retried)
      yield* Effect.withTracer(service.send(Message.text(to, "again")), tracer)
      expect(attempts()).toEqual([3, 1])
    }))

  it.effect("uses the backoff when it is longer than Retry-After", () =>
    Effect.gen(function*() {
      const { calls, driver } = scriptedDriver("p", [down, down, rateLimited(0), "ok"])
      const service = yield* MessagingService.make(driver, {
        retry: Retry.schedule({ base: "1 second", jitter: false })
      })
      const fiber = yield* Effect.forkChild(service.send(Message.text(to, "hi")))
      yield* TestClock.adjust("999 millis")
      expect(calls.length).toBe(1)
      yield* TestClock.adjust("1 millis") // 1 s
      expect(calls.length).toBe(2)
      yield* TestClock.adjust("2 seconds") // 2 s
      expect(calls.length).toBe(3)
      yield* TestClock.adjust("3999 millis") // 4 s backoff beats Retry-After 0
      expect(calls.length).toBe(3)
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(fiber)
      expect(calls.length).toBe(4)
    }))

  it.effect("gives up after maxRetries with the last error", () =>
    Effect.gen(function*() {
      const { calls, driver } = scriptedDriver("p", [down, down, down, down])
      const service = yield* MessagingService.make(driver, { retry: Retry.schedule({ maxRetries: 2, jitter: false }) })
      const fiber = yield* Effect.forkChild(Effect.flip(service.send(Message.text(to, "hi"))))
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)
      expect(error._tag).toBe("ProviderUnavailable")
      expect(calls.length).toBe(3)
    }))

  it.effect("does not wait for a Retry-After longer than maxElapsed", () =>
    Effect.gen(function*() {
      const { calls, driver } = scriptedDriver("p", [rateLimited(3600)])
      const service = yield* MessagingService.make(driver, { retry: Retry.schedule({ maxElapsed: "30 seconds" }) })
      const error = yield* Effect.flip(service.send(Message.text(to, "hi")))
      expect(error._tag).toBe("RateLimited")
      expect(calls.length).toBe(1)
    }))

  it.effect("never retries errors that are not retryable", () =>
    Effect.gen(function*() {
      for (
        const error of [
          new MessagingError.Unauthorized({ provider: "p", status: 401, reason: "bad key" }),
          new MessagingError.InvalidMessage({ provider: "p", field: "body", reason: "bad" }),
          new MessagingError.WindowClosed({ provider: "p", chat: "+1" }),
          new MessagingError.RecipientUnavailable({ provider: "p", reason: "not on WhatsApp" }),
          new MessagingError.DeliveryUnknown({ provider: "p", reason: "reset" })
        ]
      ) {
        const { calls, driver } = scriptedDriver("p", [error])
        const service = yield* MessagingService.make(driver)
        expect((yield* Effect.flip(service.send(Message.text(to, "hi"))))._tag).toBe(error._tag)
        expect(calls.length).toBe(1)
      }
    }))

  it.effect("retries DeliveryUnknown only with an idempotency key the provider honours", () =>
    Effect.gen(function*() {
      const unknown = new MessagingError.DeliveryUnknown({ provider: "p", reason: "reset" })
      const honouring = scriptedDriver("p", [unknown, "ok"])
      const service = yield* MessagingService.make(
        { ...honouring.driver, capabilities: { ...honouring.driver.capabilities, idempotencyKeys: true } },
        { retry: Retry.schedule({ jitter: false }) }
      )
      const fiber = yield* Effect.forkChild(service.send(Message.text(to, "hi"), { idempotencyKey: "k1" }))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      expect(honouring.calls.map((c) => c.key)).toEqual(["k1", "k1"])
    }))
})
