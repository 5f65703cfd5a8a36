import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { expect, it } from "@effect/vitest"
import { ChatId, Message, Retry } from "@parley/core"
import { FakeNetwork, Faults } from "@parley/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import { failoverOverEmulators } from "./emulated.js"

// A dead server refuses new connections (ProviderUnavailable: safe to fail over). A request already
// written on a pooled keep-alive connection when the server dies is another case, DeliveryUnknown,
// which is rightly never failed over; fresh connections keep this test about the first case.
const HttpWithoutKeepAlive = NodeHttpClient.layerNodeHttpOptions({ keepAlive: false })

const retry = Retry.schedule({ base: "1 millis", maxDelay: "5 millis", maxRetries: 2 })

it.live(
  "1,000 messages through Failover([Multisession, Wawp, ChatSend]): the primary fails 30%, then dies; each message arrives once",
  () =>
    Effect.gen(function*() {
      const network = yield* FakeNetwork.FakeNetwork
      const { failover, multisession, service } = yield* failoverOverEmulators({
        device: "failover-device",
        retry,
        breaker: { consecutiveFailures: 5, cooldown: "10 minutes" }
      })
      yield* multisession.faults.rate(0.3, Faults.serverError(503))
      const [primary] = failover.members

      const send = (i: number) =>
        service.send(Message.text(ChatId.phone(`+3162${String(i).padStart(7, "0")}`), `message ${i}`), {
          idempotencyKey: `notice-${i}`
        })

      const first = yield* Effect.forEach(Array.from({ length: 500 }, (_, i) => i), send, { concurrency: 16 })
      expect(first.filter((r) => r.provider === "multisession").length).toBeGreaterThan(400)
      expect((yield* primary!.breaker.state)._tag).toBe("Closed")
      const failuresBefore = (yield* primary!.breaker.counts).failures

      yield* multisession.down
      const second = yield* Effect.forEach(Array.from({ length: 500 }, (_, i) => 500 + i), send, { concurrency: 16 })
      expect(second.filter((r) => r.provider === "multisession")).toEqual([])
      expect((yield* primary!.breaker.state)._tag).toBe("Open")
      // Once open, the breaker keeps sends away from the dead provider: only the calls in flight when
      // it opened (at most the concurrency) failed on it.
      const failuresAfter = (yield* primary!.breaker.counts).failures
      expect(failuresAfter - failuresBefore).toBeLessThanOrEqual(5 + 16)

      const outbound = (yield* network.messages).filter((m) => m.direction === "outbound")
      expect(outbound.length).toBe(1000)
      const texts = new Set(outbound.map((m) => m.content.kind === "text" ? m.content.text : ""))
      expect(texts.size).toBe(1000)
      for (let i = 0; i < 1000; i++) expect(texts.has(`message ${i}`)).toBe(true)
      expect(new Set([...first, ...second].map((r) => r.messageId)).size).toBe(1000)
    }).pipe(Effect.provide(Layer.merge(FakeNetwork.layer({ autoAck: false }), HttpWithoutKeepAlive))),
  60_000
)

it.live(
  "Failover([Multisession, Wawp, ChatSend]) sends what the gateway cannot carry through the next provider: quoted replies, group reactions, Ogg voice notes, @lid chats (issue 14)",
  () =>
    Effect.gen(function*() {
      const network = yield* FakeNetwork.FakeNetwork
      const { multisession, service } = yield* failoverOverEmulators({
        device: "failover-capabilities-device",
        retry,
        breaker: { consecutiveFailures: 5, cooldown: "10 minutes" }
      })
      const user = ChatId.phone("+31612345678")
      const group = ChatId.group("120363025246125486@g.us")
      const plain = yield* service.send(Message.text(user, "Which day suits you?"))
      expect(plain.provider).toBe("multisession")
      const wrote = yield* network.userSends({
        from: user,
        to: multisession.business,
        content: { kind: "text", text: "Tuesday" }
      })

      const reply = yield* service.send(Message.text(user, "Tuesday it is", { replyTo: wrote.id }))
      expect(reply.provider).toBe("wawp")
      const sent = yield* network.find(reply.messageId)
      expect(sent._tag === "Some" && [sent.value.provider, sent.value.replyTo]).toEqual(["wawp", wrote.id])

      const inGroup = yield* network.userSends({
        from: group,
        author: user,
        to: multisession.business,
        content: { kind: "text", text: "See you all there" }
      })
      const others = [
        Message.reaction(group, { messageId: inGroup.id, emoji: "👍" }),
        Message.audio(user, { url: "https://cdn.example/note.ogg" }),
        Message.text(Result.getOrThrow(ChatId.parse("123456789012345@lid")), "Hi")
      ]
      for (const message of others) expect((yield* service.send(message)).provider).toBe("wawp")
      // The gateway saw only the plain text.
      expect((yield* multisession.requests).map((r) => r.url)).toEqual([
        "/chats/31612345678@s.whatsapp.net/messages"
      ])
    }).pipe(Effect.provide(Layer.merge(FakeNetwork.layer({ autoAck: false }), HttpWithoutKeepAlive)))
)
