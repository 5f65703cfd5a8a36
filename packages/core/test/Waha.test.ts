import { describe, expect, it } from "@effect/vitest"
import { ChatId, InboundEvent, type Webhook } from "@parley/core"
import { ProviderWebhook, Waha } from "@parley/core/provider"
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
  return {
    ...r,
    headers: { "x-webhook-hmac": ProviderWebhook.sign({ secret, header: "x", algorithm: "sha512" }, r.body) }
  }
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

  it.effect("refuses only malformed JSON: an odd envelope is skipped, odd content kept as unavailable", () =>
    Effect.gen(function*() {
      const malformed = yield* Effect.flip(handler.decode(request("{\"event\": ")))
      expect(malformed.status).toBe(400)
      expect(malformed.reason).toMatch(/^malformed JSON/)
      const notUtf8 = yield* Effect.flip(handler.decode({ ...request(""), body: new Uint8Array([0xff, 0xfe]) }))
      expect(notUtf8.reason).toMatch(/^malformed JSON/)
      const events = yield* handler.decode(request([
        { session: "x", payload: {} },
        42,
        envelope("message", { ...message(), from: 42 }),
        envelope("message", message({ from: "hello@example.com" })),
        envelope("message.ack", { id: "true_x_1", fromMe: true }),
        envelope("message", message({ hasMedia: "yes" }))
      ]))
      expect(events).toEqual([
        new InboundEvent.MessageReceived({
          provider: "waha-test",
          eventId: "message:false_31612345678@c.us_ABC",
          messageId: "false_31612345678@c.us_ABC",
          chat: ChatId.phone("+31612345678"),
          sender: ChatId.phone("+31612345678"),
          senderName: "Ada",
          content: new InboundEvent.UnavailableContent({
            reason: "unexpected shape at payload.hasMedia: Expected boolean, actual \"yes\""
          }),
          at: new Date(1_795_000_000_000)
        })
      ])
    }))

  it.effect("ignores status@broadcast and broadcast lists (issue 14, point 7)", () =>
    Effect.gen(function*() {
      const events = yield* decode([
        envelope(
          "message",
          message({ id: "false_status@broadcast_S1", from: "status@broadcast", participant: "31612345678@c.us" })
        ),
        envelope("message.reaction", {
          id: "r1",
          from: "status@broadcast",
          fromMe: false,
          reaction: { text: "🔥", messageId: "true_status@broadcast_S0" }
        }),
        envelope("message.ack", { id: "true_status@broadcast_S0", from: "status@broadcast", fromMe: true, ack: 3 })
      ])
      expect(events).toEqual([])
    }))

  it.effect("a replyTo without an id is no reply; a bare quoted id becomes the serialised id (issue 14, point 6)", () =>
    Effect.gen(function*() {
      const group = "120363025246125486@g.us"
      const events = yield* decode([
        // NOWEB builds replyTo from any message context.
        envelope("message", message({ replyTo: { body: null } })),
        envelope("message", message({ replyTo: { participant: "31612345678@c.us", body: null } })),
        // WEBJS (2024.10): the bare WhatsApp id, and who wrote the quoted message.
        {
          ...envelope("message", message({ replyTo: { id: "3EB0AA", participant: "15550000001@c.us" } })),
          engine: "WEBJS"
        },
        {
          ...envelope("message", message({ replyTo: { id: "3EB0BB", participant: "31612345678@c.us" } })),
          engine: "WEBJS"
        },
        {
          ...envelope(
            "message",
            message({ from: group, replyTo: { id: "3EB0CC", participant: { _serialized: "31699999999@c.us" } } })
          ),
          engine: "GOWS"
        },
        // Without `me`, a one-to-one quote not by the user is by us.
        { ...envelope("message", message({ replyTo: { id: "3EB0DD", participant: "15550000001@c.us" } })), me: null },
        envelope("message", message({ replyTo: { id: "3EB0EE" } }))
      ])
      expect(events.map((e) => e._tag === "MessageReceived" && e.replyTo)).toEqual([
        undefined,
        undefined,
        "true_31612345678@c.us_3EB0AA",
        "false_31612345678@c.us_3EB0BB",
        `false_${group}_3EB0CC_31699999999@c.us`,
        "true_31612345678@c.us_3EB0DD",
        "3EB0EE"
      ])
    }))

  it.effect("engine shapes: WEBJS group authors and reactions, acks without `to`, locations only in _data (issue 14, point 7)", () =>
    Effect.gen(function*() {
      const group = "120363025246125486@g.us"
      const webjs = (event: string, payload: unknown) => ({ ...envelope(event, payload), engine: "WEBJS" })
      const events = yield* decode([
        // WEBJS: no participant; the author is in the raw data (a string or a serialised id object).
        webjs("message", message({ from: group, _data: { notifyName: "Bo", author: "31699999999@c.us" } })),
        webjs("message", message({ from: group, _data: { author: { _serialized: "31688888888@c.us" } } })),
        // WEBJS: the reaction's author in `from`, its chat in `to`.
        webjs("message.reaction", {
          id: "r2",
          from: "31699999999@c.us",
          participant: "31699999999@c.us",
          to: group,
          fromMe: false,
          reaction: { text: "👍", messageId: "true_x_1" }
        }),
        // NOWEB: the location is only in the raw message; WEBJS (older): type, lat and lng.
        envelope(
          "message",
          message({
            body: null,
            _data: { message: { locationMessage: { degreesLatitude: 52.1, degreesLongitude: 4.3, name: "Clinic" } } }
          })
        ),
        webjs("message", message({ body: "/9j/4AAQ", _data: { type: "location", lat: 52.2, lng: 4.4, loc: "Dam" } })),
        webjs("message", message({ _data: { type: "location" } })),
        // Acks: the documented minimum (no `to`), NOWEB one-to-one, WEBJS (we are `from`).
        envelope("message.ack", {
          id: "true_31612345678@c.us_3EB0A1",
          from: "31612345678@c.us",
          participant: null,
          fromMe: true,
          ack: 3,
          ackName: "READ"
        }),
        webjs("message.ack", { id: "3EB0A2", from: "15550000001@c.us", to: "31612345678@c.us", fromMe: true, ack: 2 }),
        envelope("message.ack", {
          id: `true_${group}_3EB0A3_31699999999@c.us`,
          from: group,
          to: "31699999999@c.us",
          fromMe: true,
          ack: 3
        }),
        // A sender by linked identity, with its device.
        envelope("message", message({ from: group, participant: "123456789012345:12@lid" }))
      ])
      const received = events.filter((e): e is InboundEvent.MessageReceived => e._tag === "MessageReceived")
      expect(received.map((e) => [e.chat.toString(), e.sender.toString()])).toEqual([
        [group, "+31699999999"],
        [group, "+31688888888"],
        [group, "+31699999999"],
        ["+31612345678", "+31612345678"],
        ["+31612345678", "+31612345678"],
        ["+31612345678", "+31612345678"],
        [group, "123456789012345@lid"]
      ])
      expect(received.slice(3, 6).map((e) => e.content)).toEqual([
        new InboundEvent.LocationContent({ latitude: 52.1, longitude: 4.3, name: "Clinic" }),
        new InboundEvent.LocationContent({ latitude: 52.2, longitude: 4.4, name: "Dam" }),
        new InboundEvent.UnavailableContent({ reason: "a location without coordinates" })
      ])
      expect(received[0]!.senderName).toBe("Bo")
      const statuses = events.filter((e): e is InboundEvent.StatusChanged => e._tag === "StatusChanged")
      expect(statuses.map((e) => [e.status, e.chat?.toString()])).toEqual([
        ["read", "+31612345678"],
        ["delivered", "+31612345678"],
        ["read", group]
      ])
    }))
})
