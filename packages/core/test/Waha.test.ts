import { describe, expect, it } from "@effect/vitest"
import { ChatId, InboundEvent, Waha, Webhook } from "@parley/core"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

const secret = Redacted.make("s3cret")
const handler = Waha.webhookHandler("waha-test", { secret })
const tokenHandler = Waha.webhookHandler("waha-test", { token: Redacted.make("path-token-1") })

const request = (body: unknown, headers: Record<string, string> = {}, pathToken?: string): Webhook.WebhookRequest => {
  const bytes = new TextEncoder().encode(typeof body === "string" ? body : JSON.stringify(body))
  return { headers, query: {}, pathToken, body: bytes }
}
const signed = (body: unknown) => {
  const r = request(body)
  return { ...r, headers: { "x-webhook-hmac": Webhook.sign({ secret, header: "x", algorithm: "sha512" }, r.body) } }
}
const envelope = (event: string, payload: unknown) => ({
  id: "evt_1",
  timestamp: 1_795_000_000_000,
  event,
  session: "default",
  me: { id: "15550000001@c.us", pushName: "Clinic" },
  payload,
  engine: "NOWEB"
})
const message = (extra: Record<string, unknown> = {}) => ({
  id: "false_31612345678@c.us_ABC",
  timestamp: 1_795_000_000,
  from: "31612345678@c.us",
  fromMe: false,
  body: "hello",
  _data: { notifyName: "Ada" },
  ...extra
})
const decode = (body: unknown) => Effect.flatMap(handler.verify(signed(body)), () => handler.decode(signed(body)))

describe("Waha webhooks", () => {
  it.effect("decodes a text message with sender name and reply", () =>
    Effect.gen(function*() {
      const [event] = yield* decode(envelope("message", message({ replyTo: { id: "true_x_1", body: "q" } })))
      expect(event).toEqual(
        new InboundEvent.MessageReceived({
          provider: "waha-test",
          eventId: "message:false_31612345678@c.us_ABC",
          messageId: "false_31612345678@c.us_ABC",
          chat: ChatId.phone("+31612345678"),
          sender: ChatId.phone("+31612345678"),
          senderName: "Ada",
          content: new InboundEvent.TextContent({ text: "hello" }),
          replyTo: "true_x_1",
          at: new Date(1_795_000_000_000)
        })
      )
    }))

  it.effect("decodes media, location, reactions and group authors", () =>
    Effect.gen(function*() {
      const events = yield* decode([
        envelope(
          "message",
          message({ hasMedia: true, body: "look", media: { url: "http://m/1.jpg", mimetype: "image/jpeg" } })
        ),
        envelope("message", message({ location: { latitude: "52.1", longitude: 4.3, description: "Clinic" } })),
        envelope("message.reaction", {
          id: "r1",
          from: "31612345678@c.us",
          fromMe: false,
          reaction: { text: "👍", messageId: "m1" }
        }),
        envelope("message", message({ from: "120363025246125486@g.us", participant: "31699999999@c.us" }))
      ])
      expect(events.map((e) => e._tag === "MessageReceived" && e.content)).toEqual([
        new InboundEvent.MediaContent({
          kind: "image",
          url: "http://m/1.jpg",
          mimeType: "image/jpeg",
          caption: "look"
        }),
        new InboundEvent.LocationContent({ latitude: 52.1, longitude: 4.3, name: "Clinic" }),
        new InboundEvent.ReactionContent({ messageId: "m1", emoji: "👍" }),
        new InboundEvent.TextContent({ text: "hello" })
      ])
      const group = events[3]!
      expect(group._tag === "MessageReceived" && [group.chat.toString(), group.sender.toString()]).toEqual([
        "120363025246125486@g.us",
        "+31699999999"
      ])
    }))

  it.effect("maps ack levels to statuses and ignores echoes, pending acks and other events", () =>
    Effect.gen(function*() {
      const ack = (n: number) =>
        envelope("message.ack", { id: "true_x_1", from: "31612345678@c.us", fromMe: true, ack: n })
      const events = yield* decode([
        ack(0),
        ack(1),
        ack(2),
        ack(3),
        ack(4),
        ack(-1),
        envelope("message", message({ fromMe: true })),
        envelope("session.status", { status: "WORKING" })
      ])
      expect(events.map((e) => e._tag === "StatusChanged" && [e.status, e.eventId])).toEqual([
        ["sent", "ack:true_x_1:1"],
        ["delivered", "ack:true_x_1:2"],
        ["read", "ack:true_x_1:3"],
        ["played", "ack:true_x_1:4"],
        ["failed", "ack:true_x_1:-1"]
      ])
    }))

  it.effect("the same event delivered twice has the same dedupe key", () =>
    Effect.gen(function*() {
      const [a] = yield* decode({ ...envelope("message", message()), id: "evt_first" })
      const [b] = yield* decode({ ...envelope("message", message()), id: "evt_retry" })
      expect(InboundEvent.dedupeKey(a!)).toBe(InboundEvent.dedupeKey(b!))
    }))

  it.effect("rejects a missing or wrong signature with 401", () =>
    Effect.gen(function*() {
      const body = envelope("message", message())
      const missing = yield* Effect.flip(handler.verify(request(body)))
      expect(missing).toMatchObject({ status: 401, reason: "missing signature header x-webhook-hmac" })
      const wrong = yield* Effect.flip(handler.verify(request(body, { "x-webhook-hmac": "00ff" })))
      expect(wrong.status).toBe(401)
      // A valid signature for other bytes does not verify these.
      const tampered = { ...signed(body), body: new TextEncoder().encode(JSON.stringify({ ...body, session: "x" })) }
      expect((yield* Effect.flip(handler.verify(tampered))).status).toBe(401)
    }))

  it.effect("verifies a path token when no secret is configured, and refuses all when neither is", () =>
    Effect.gen(function*() {
      const body = envelope("message", message())
      yield* tokenHandler.verify(request(body, {}, "path-token-1"))
      expect((yield* Effect.flip(tokenHandler.verify(request(body, {}, "path-token-2")))).status).toBe(401)
      expect((yield* Effect.flip(tokenHandler.verify(request(body)))).reason).toContain("missing webhook token")
      const open = Waha.webhookHandler("waha-test", {})
      expect((yield* Effect.flip(open.verify(request(body, {}, "anything")))).reason).toContain("no webhook secret")
    }))

  it.effect("rejects malformed JSON and wrong shapes with 400 naming the problem", () =>
    Effect.gen(function*() {
      const malformed = yield* Effect.flip(handler.decode(request("{\"event\": ")))
      expect(malformed.status).toBe(400)
      expect(malformed.reason).toMatch(/^malformed JSON/)
      const noEvent = yield* Effect.flip(handler.decode(request({ session: "x", payload: {} })))
      expect(noEvent).toMatchObject({ status: 400 })
      expect(noEvent.reason).toContain("event")
      const badPayload = yield* Effect.flip(handler.decode(request(envelope("message", { ...message(), from: 42 }))))
      expect(badPayload.reason).toContain("payload.from")
      const badChat = yield* Effect.flip(
        handler.decode(request(envelope("message", message({ from: "hello@example.com" }))))
      )
      expect(badChat.reason).toContain("payload.from")
      const notUtf8 = yield* Effect.flip(handler.decode({ ...request(""), body: new Uint8Array([0xff, 0xfe]) }))
      expect(notUtf8.reason).toMatch(/^malformed JSON/)
    }))
})
