import { describe, expect, it } from "@effect/vitest"
import { Capabilities, ChatId, Idempotency, Message, MessagingError, MessagingService } from "@parley/core"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import { scriptedDriver } from "./fixtures/drivers.js"

const to = ChatId.phone("+14155550123")

describe("MessagingService.make", () => {
  it.effect("validates before any I/O", () =>
    Effect.gen(function*() {
      const { calls, driver } = scriptedDriver("p")
      const service = yield* MessagingService.make(driver)
      const error = yield* Effect.flip(service.send(Message.text(to, "x".repeat(5000))))
      expect(error._tag).toBe("InvalidMessage")
      expect(calls.length).toBe(0)
    }))

  it.effect("refuses kinds and replies the provider cannot carry, with no I/O", () =>
    Effect.gen(function*() {
      const { calls, driver } = scriptedDriver("p", [], Capabilities.make({ kinds: ["text", "image"] }))
      const service = yield* MessagingService.make(driver)
      const template = yield* Effect.flip(service.send(Message.template(to, { name: "t" })))
      expect(template).toEqual(new MessagingError.Unsupported({ provider: "p", feature: "template messages" }))
      const reply = yield* Effect.flip(service.send(Message.text(to, "hi", { replyTo: "m1" })))
      expect(reply).toEqual(new MessagingError.Unsupported({ provider: "p", feature: "text replies (replyTo)" }))
      expect(calls.length).toBe(0)
    }))

  it.effect("returns a receipt with the provider's message id", () =>
    Effect.gen(function*() {
      const { driver } = scriptedDriver("p")
      const receipt = yield* MessagingService.send(Message.text(to, "hi")).pipe(
        Effect.provideServiceEffect(MessagingService.MessagingService, MessagingService.make(driver))
      )
      expect(receipt.provider).toBe("p")
      expect(receipt.messageId).toBe("p-1")
      expect(receipt.status).toBe("sent")
    }))

  it.effect("the same idempotency key within the window returns the first receipt without sending", () =>
    Effect.gen(function*() {
      const { calls, driver } = scriptedDriver("p")
      const service = yield* MessagingService.make(driver, { idempotencyWindow: "1 hour" })
      const first = yield* service.send(Message.text(to, "order 42 shipped"), { idempotencyKey: "order-42" })
      const again = yield* service.send(Message.text(to, "order 42 shipped"), { idempotencyKey: "order-42" })
      expect(again).toEqual(first)
      expect(calls.length).toBe(1)
      const other = yield* service.send(Message.text(to, "order 43"), { idempotencyKey: "order-43" })
      expect(other.messageId).not.toBe(first.messageId)

      yield* TestClock.adjust("61 minutes")
      const later = yield* service.send(Message.text(to, "order 42 shipped"), { idempotencyKey: "order-42" })
      expect(later.messageId).not.toBe(first.messageId)
      expect(calls.length).toBe(3)
    }))

  it.effect("concurrent sends with one key wait for the first instead of racing it", () =>
    Effect.gen(function*() {
      const { calls, driver } = scriptedDriver("p")
      const slow: MessagingService.Driver = {
        ...driver,
        send: (m, c) => Effect.andThen(Effect.sleep("1 second"), driver.send(m, c))
      }
      const service = yield* MessagingService.make(slow)
      const fibers = yield* Effect.forEach([1, 2, 3], () =>
        Effect.forkChild(service.send(Message.text(to, "x"), { idempotencyKey: "k" })))
      yield* TestClock.adjust("1 second")
      const receipts = yield* Effect.forEach(fibers, Fiber.join)
      expect(
        new Set(receipts.map((r) =>
          r.messageId
        )).size
      ).toBe(1)
      expect(calls.length).toBe(1)
    }))

  it.effect("failed sends are not remembered under their key", () =>
    Effect.gen(function*() {
      const { calls, driver } = scriptedDriver("p", [new MessagingError.Unauthorized({ provider: "p", reason: "x" })])
      const service = yield* MessagingService.make(driver)
      yield* Effect.flip(service.send(Message.text(to, "x"), { idempotencyKey: "k" }))
      yield* service.send(Message.text(to, "x"), { idempotencyKey: "k" })
      expect(calls.length).toBe(2)
    }))

  it.effect("uses the IdempotencyStore in context when there is one", () =>
    Effect.gen(function*() {
      const store = yield* Idempotency.makeMemory
      const a = scriptedDriver("p")
      const b = scriptedDriver("p")
      const first = yield* Effect.flatMap(MessagingService.make(a.driver), (s) =>
        s.send(Message.text(to, "x"), { idempotencyKey: "k" })).pipe(
          Effect.provideService(Idempotency.IdempotencyStore, store)
        )
      // A second service instance (say, after a restart) over the same store does not send again.
      const second = yield* Effect.flatMap(MessagingService.make(b.driver), (s) =>
        s.send(Message.text(to, "x"), { idempotencyKey: "k" })).pipe(
          Effect.provideService(Idempotency.IdempotencyStore, store)
        )
      expect(second).toEqual(first)
      expect(b.calls.length).toBe(0)
    }))

  it.effect("a rate limit queues sends instead of failing them", () =>
    Effect.gen(function*() {
      const { calls, driver } = scriptedDriver("p")
      const service = yield* MessagingService.make(driver, { rateLimit: { perSecond: 2, burst: 2 }, retry: false })
      const fiber = yield* Effect.forkChild(
        Effect.forEach([1, 2, 3, 4, 5], (i) => service.send(Message.text(to, `${i}`)), { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("1 millis")
      expect(calls.length).toBe(2)
      yield* TestClock.adjust("500 millis")
      expect(calls.length).toBe(3)
      yield* TestClock.adjust("1 second")
      const receipts = yield* Fiber.join(fiber)
      expect(receipts.length).toBe(5)
      expect(calls.length).toBe(5)
    }))

  it.effect("a choice reaches a driver without buttons as its numbered text, and one with them as it is", () =>
    Effect.gen(function*() {
      const choice = Message.buttons(to, { body: "Pick", options: ["09:00", "11:00"] })
      const plain = scriptedDriver("plain", [], Capabilities.make({ kinds: ["text"] }))
      yield* Effect.flatMap(MessagingService.make(plain.driver), (service) => service.send(choice))
      expect(plain.calls.map((c) => c.message)).toEqual([Message.text(to, "Pick\n1. 09:00\n2. 11:00")])
      const interactive = scriptedDriver("interactive", [], Capabilities.make({ kinds: ["text", "buttons"] }))
      yield* Effect.flatMap(MessagingService.make(interactive.driver), (service) => service.send(choice))
      expect(interactive.calls.map((c) => c.message)).toEqual([choice])
      // Without text either, a choice cannot go at all.
      const mute = scriptedDriver("mute", [], Capabilities.make({ kinds: ["image"] }))
      const error = yield* Effect.flip(Effect.flatMap(MessagingService.make(mute.driver), (s) => s.send(choice)))
      expect(error).toMatchObject({ _tag: "Unsupported", feature: "text messages" })
    }))

  it.effect("refuses chats the provider cannot address, with no I/O", () =>
    Effect.gen(function*() {
      const { calls, driver } = scriptedDriver("p", [], Capabilities.make({ kinds: ["text"], chats: ["phone"] }))
      const service = yield* MessagingService.make(driver)
      const error = yield* Effect.flip(service.send(Message.text(ChatId.group("120363012345678901@g.us"), "hi")))
      expect(error).toEqual(new MessagingError.Unsupported({ provider: "p", feature: "group chats" }))
      expect(calls.length).toBe(0)
    }))
})
