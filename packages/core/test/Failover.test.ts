import { describe, expect, it } from "@effect/vitest"
import { Capabilities, ChatId, Failover, Message, MessagingError, MessagingService } from "@parley/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/testing/TestClock"
import { scriptedDriver } from "./fixtures/drivers.js"

const to = ChatId.phone("+14155550123")
const down = (provider: string) => new MessagingError.ProviderUnavailable({ provider, status: 503, reason: "down" })

const group = (drivers: ReadonlyArray<MessagingService.Driver>, options?: Failover.Options) =>
  Effect.flatMap(
    Effect.forEach(drivers, (driver) => MessagingService.make(driver, { retry: false })),
    ([head, ...tail]) => Failover.make([head!, ...tail], options)
  )

describe("Failover", () => {
  it.effect("tries providers in order and returns the receipt of the one that succeeded", () =>
    Effect.gen(function*() {
      const a = scriptedDriver("a", [down("a")])
      const b = scriptedDriver("b")
      const c = scriptedDriver("c")
      const service = yield* group([a.driver, b.driver, c.driver])
      const receipt = yield* service.send(Message.text(to, "hi"))
      expect(receipt.provider).toBe("b")
      expect([a.calls.length, b.calls.length, c.calls.length]).toEqual([1, 1, 0])
    }))

  it.effect("fails over on Unauthorized and RateLimited, and fails with the last error when all fail", () =>
    Effect.gen(function*() {
      const a = scriptedDriver("a", [
        new MessagingError.Unauthorized({ provider: "a", status: 401, reason: "bad key" })
      ])
      const b = scriptedDriver("b", [new MessagingError.RateLimited({ provider: "b", status: 429 })])
      const service = yield* group([a.driver, b.driver])
      const error = yield* Effect.flip(service.send(Message.text(to, "hi")))
      expect(error._tag).toBe("RateLimited")
      expect(error.provider).toBe("b")
    }))

  it.effect("skips providers that cannot carry the message, without calling them", () =>
    Effect.gen(function*() {
      const textOnly = scriptedDriver("text-only", [], Capabilities.make({ kinds: ["text"] }))
      const full = scriptedDriver("full")
      const service = yield* group([textOnly.driver, full.driver])
      const receipt = yield* service.send(Message.template(to, { name: "reminder" }))
      expect(receipt.provider).toBe("full")
      expect(textOnly.calls.length).toBe(0)
    }))

  it.effect("is Unsupported when no member can carry the message", () =>
    Effect.gen(function*() {
      const a = scriptedDriver("a", [], Capabilities.make({ kinds: ["text"] }))
      const service = yield* group([a.driver])
      const error = yield* Effect.flip(service.send(Message.location(to, { latitude: 1, longitude: 2 })))
      expect(error._tag).toBe("Unsupported")
      expect(a.calls.length).toBe(0)
    }))

  for (
    const error of [
      new MessagingError.InvalidMessage({ provider: "a", field: "body", reason: "bad" }),
      new MessagingError.DeliveryUnknown({ provider: "a", reason: "reset" }),
      new MessagingError.WindowClosed({ provider: "a", chat: "+14155550123" }),
      new MessagingError.RecipientUnavailable({ provider: "a", reason: "not on WhatsApp" })
    ]
  ) {
    it.effect(`does not fail over on ${error._tag}`, () =>
      Effect.gen(function*() {
        const a = scriptedDriver("a", [error])
        const b = scriptedDriver("b")
        const service = yield* group([a.driver, b.driver])
        expect(yield* Effect.flip(service.send(Message.text(to, "hi")))).toEqual(error)
        expect(b.calls.length).toBe(0)
      }))
  }

  it.effect("skips a provider whose breaker is open, then probes it after the cool-down", () =>
    Effect.gen(function*() {
      const a = scriptedDriver("a", [down("a"), down("a")])
      const b = scriptedDriver("b")
      const service = yield* group([a.driver, b.driver], {
        breaker: { consecutiveFailures: 2, cooldown: "30 seconds" }
      })
      for (let i = 0; i < 5; i++) expect((yield* service.send(Message.text(to, `${i}`))).provider).toBe("b")
      expect(a.calls.length).toBe(2) // the breaker opened after two failures; three sends skipped it
      expect((yield* service.members[0]!.breaker.state)._tag).toBe("Open")

      yield* TestClock.adjust("30 seconds")
      expect((yield* service.send(Message.text(to, "probe"))).provider).toBe("a")
      expect((yield* service.members[0]!.breaker.state)._tag).toBe("Closed")
    }))

  it.effect("with every breaker open it fails fast with ProviderUnavailable", () =>
    Effect.gen(function*() {
      const a = scriptedDriver("a", [down("a")])
      const service = yield* group([a.driver], { breaker: { consecutiveFailures: 1 } })
      yield* Effect.flip(service.send(Message.text(to, "1")))
      const error = yield* Effect.flip(service.send(Message.text(to, "2")))
      expect(error._tag).toBe("ProviderUnavailable")
      expect(error.message).toContain("circuit breaker is open")
      expect(a.calls.length).toBe(1)
    }))

  it.effect("preferProvider puts the chat's own provider first", () =>
    Effect.gen(function*() {
      const a = scriptedDriver("a")
      const b = scriptedDriver("b")
      const service = yield* group([a.driver, b.driver])
      expect((yield* service.send(Message.text(to, "hi"), { preferProvider: "b" })).provider).toBe("b")
      expect(a.calls.length).toBe(0)
    }))

  it.effect("an idempotent resend returns the first receipt even after the provider changed", () =>
    Effect.gen(function*() {
      const a = scriptedDriver("a", ["ok", down("a")])
      const b = scriptedDriver("b")
      const service = yield* group([a.driver, b.driver])
      const first = yield* service.send(Message.text(to, "hi"), { idempotencyKey: "k" })
      const again = yield* service.send(Message.text(to, "hi"), { idempotencyKey: "k" })
      expect(again).toEqual(first)
      expect(a.calls.length + b.calls.length).toBe(1)
    }))

  it.effect("validates before trying anyone", () =>
    Effect.gen(function*() {
      const a = scriptedDriver("a")
      const service = yield* group([a.driver])
      expect((yield* Effect.flip(service.send(Message.text(to, ""))))._tag).toBe("InvalidMessage")
      expect(a.calls.length).toBe(0)
    }))

  it.effect("Failover.layer composes provider layers and exposes the members", () =>
    Effect.gen(function*() {
      const a = scriptedDriver("a", [down("a")])
      const b = scriptedDriver("b")
      const layerOf = (driver: MessagingService.Driver) =>
        Layer.effect(MessagingService.MessagingService, MessagingService.make(driver, { retry: false }))
      const program = Effect.gen(function*() {
        const receipt = yield* MessagingService.send(Message.text(to, "hi"))
        const { members } = yield* Failover.Failover
        return { receipt, names: members.map((m) => m.service.provider) }
      })
      const result = yield* program.pipe(Effect.provide(Failover.layer([layerOf(a.driver), layerOf(b.driver)])))
      expect(result.receipt.provider).toBe("b")
      expect(result.names).toEqual(["a", "b"])
    }))
})
