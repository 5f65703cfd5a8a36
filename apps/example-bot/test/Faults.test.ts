import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { expect, it } from "@effect/vitest"
import { ChatId, Message, MessagingError, type Receipt, Retry } from "@parley/core"
import { Capture, type Emulator, FakeNetwork, Faults } from "@parley/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import { failoverOverEmulators } from "./emulated.js"

const retry = Retry.schedule({ base: "5 millis", maxDelay: "50 millis", maxRetries: 3, maxElapsed: "10 seconds" })

// Every provider misbehaves the same way: 20% 5xx, 5% 429 with Retry-After, 5% dropped connections
// (half after the message went out, half before).
const misbehave = (emulator: Emulator.Emulator) =>
  Effect.all([
    emulator.faults.rate(0.2, Faults.serverError(503)),
    emulator.faults.rate(0.05, Faults.rateLimited(1)),
    emulator.faults.rate(0.025, Faults.drop({ processed: true })),
    emulator.faults.rate(0.025, Faults.drop())
  ])

it.live(
  "10,000 sends through Failover over misbehaving providers: each ends in a receipt or a typed error, nothing lost or sent twice",
  () =>
    Effect.gen(function*() {
      const network = yield* FakeNetwork.FakeNetwork
      const emulated = yield* failoverOverEmulators({
        device: "reliability-device",
        retry,
        breaker: { consecutiveFailures: 1000 }
      })
      const { service } = emulated
      yield* Effect.forEach([emulated.multisession, emulated.wawp, emulated.chatsend], misbehave)
      const capture = yield* Capture.watch(emulated.secrets)

      const total = 10_000
      const send = (i: number) =>
        Effect.result(
          service.send(Message.text(ChatId.phone(`+3163${String(i).padStart(7, "0")}`), `notice ${i}`), {
            idempotencyKey: `notice-${i}`
          }).pipe(Effect.tapError((error) => Effect.logError(error.message, error)), Effect.provide(capture.layer))
        )
      const results = yield* Effect.forEach(Array.from({ length: total }, (_, i) => i), send, { concurrency: 64 })

      // Every send ended in a receipt or one of the typed errors.
      const receipts = results.filter(Result.isSuccess).map((r) => r.success)
      const errors = results.filter(Result.isFailure).map((r) => r.failure)
      expect(receipts.length + errors.length).toBe(total)
      for (const error of errors) expect(MessagingError.isMessagingError(error)).toBe(true)
      // Only an answer that may have been lost after the request went out is left to the caller.
      expect(new Set(errors.map((e) => e._tag))).toEqual(new Set(errors.length > 0 ? ["DeliveryUnknown"] : []))

      // Reconcile with the network: each receipt is a message that arrived, under its id, once.
      const outbound = (yield* network.messages).filter((m) => m.direction === "outbound")
      const byId = new Map(outbound.map((m) => [m.id, m]))
      for (const [i, result] of results.entries()) {
        if (Result.isSuccess(result)) {
          const arrived = byId.get(result.success.messageId)
          expect(arrived?.content).toEqual({ kind: "text", text: `notice ${i}` })
        }
      }
      const texts = outbound.map((m) => m.content.kind === "text" ? m.content.text : "")
      expect(new Set(texts).size).toBe(texts.length) // no message went out twice
      // Nothing lost: what went out is exactly what was acknowledged, plus what was dropped after sending.
      expect(outbound.length).toBeGreaterThanOrEqual(receipts.length)
      expect(outbound.length).toBeLessThanOrEqual(receipts.length + errors.length)

      // Sending the acknowledged ones again with the same keys returns the same receipts, sends nothing.
      const acknowledged = results.flatMap((r, i) => Result.isSuccess(r) ? [[i, r.success] as const] : [])
      const again = yield* Effect.forEach(acknowledged, ([i]) => send(i), { concurrency: 64 })
      expect(again.map((r) => Result.getOrUndefined(r)?.messageId)).toEqual(
        acknowledged.map(([, receipt]: readonly [number, Receipt.Receipt]) => receipt.messageId)
      )
      expect((yield* network.messages).filter((m) => m.direction === "outbound").length).toBe(outbound.length)

      // No credential reached a log line or a span, through all those failures and retries.
      const counts = yield* capture.counts
      expect(counts.logs).toBeGreaterThanOrEqual(errors.length)
      expect(counts.spans).toBeGreaterThan(total)
      expect(yield* capture.leaks).toEqual([])
    }).pipe(Effect.provide(Layer.merge(FakeNetwork.layer({ autoAck: false }), NodeHttpClient.layerUndici))),
  180_000
)
