import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Bot, ChatId, InboundEvent, type Webhook, WebhookServer } from "@parley/core"
import { ProviderWebhook } from "@parley/core/provider"
import { MetaApi, MetaWebhook } from "@parley/meta"
import { Capture } from "@parley/testing"
import * as Effect from "effect/Effect"
import * as HttpServer from "effect/http/HttpServer"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const appSecret = Redacted.make("app-secret-9d2a")
const verifyToken = Redacted.make("verify-token-31c0")
const handler = MetaWebhook.make({ appSecret, verifyToken })

const envelope = (value: Record<string, unknown>) => ({
  object: "whatsapp_business_account",
  entry: [{
    id: "102290129340398",
    changes: [{
      field: "messages",
      value: {
        messaging_product: "whatsapp",
        metadata: { display_phone_number: "15550000001", phone_number_id: "106540352242922" },
        ...value
      }
    }]
  }]
})

const request = (body: string, headers: Record<string, string> = {}): Webhook.WebhookRequest => ({
  headers,
  query: {},
  pathToken: undefined,
  body: new TextEncoder().encode(body)
})

const signed = (body: string) =>
  request(body, { "x-hub-signature-256": ProviderWebhook.sign(MetaApi.signature(appSecret), body) })

const decode = (value: Record<string, unknown>) => {
  const raw = signed(JSON.stringify(envelope(value)))
  return Effect.andThen(handler.verify(raw), handler.decode(raw))
}

const message = (fields: Record<string, unknown>) => ({
  contacts: [{ profile: { name: "Ada" }, wa_id: "31612345678" }],
  messages: [{ from: "31612345678", id: "wamid.IN1", timestamp: "1795000000", ...fields }]
})

describe("MetaWebhook", () => {
  it.effect("verifies X-Hub-Signature-256 over the raw bytes: good, bad, missing, re-serialised", () =>
    Effect.gen(function*() {
      // Spacing as Meta sends it: a re-serialised body has other bytes, so another signature.
      const body = "{\"object\": \"whatsapp_business_account\",  \"entry\": []}"
      yield* handler.verify(signed(body))
      const reserialised = JSON.stringify(JSON.parse(body))
      const wrongBody = yield* Effect.flip(
        handler.verify({ ...signed(body), body: new TextEncoder().encode(reserialised) })
      )
      expect(wrongBody).toMatchObject({
        status: 401,
        reason: "signature in X-Hub-Signature-256 does not match the body"
      })
      const forged = ProviderWebhook.sign(MetaApi.signature(Redacted.make("other-secret")), body)
      expect(yield* Effect.flip(handler.verify(request(body, { "x-hub-signature-256": forged })))).toMatchObject({
        status: 401
      })
      expect(yield* Effect.flip(handler.verify(request(body)))).toMatchObject({
        status: 401,
        reason: "missing signature header X-Hub-Signature-256"
      })
    }))

  it.effect("the GET verification: the right token answers the challenge, a wrong one 403, a missing one 400", () =>
    Effect.gen(function*() {
      const challenge = handler.challenge!
      const query = (q: Record<string, string>): Webhook.WebhookRequest => ({ ...request(""), query: q })
      const params = { "hub.mode": "subscribe", "hub.verify_token": "verify-token-31c0", "hub.challenge": "1158201444" }
      expect(yield* challenge(query(params))).toBe("1158201444")
      expect(yield* Effect.flip(challenge(query({ ...params, "hub.verify_token": "guess" })))).toMatchObject({
        status: 403
      })
      expect(yield* Effect.flip(challenge(query({ "hub.mode": "subscribe", "hub.challenge": "1" })))).toMatchObject({
        status: 400
      })
      expect(yield* Effect.flip(challenge(query({ ...params, "hub.mode": "unsubscribe" })))).toMatchObject({
        status: 400
      })
    }))

  it.effect("users' messages of every kind, with names, replies and times", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Record<string, unknown>, InboundEvent.Content]> = [
        [{ type: "text", text: { body: "hi" } }, new InboundEvent.TextContent({ text: "hi" })],
        [
          { type: "document", document: { id: "m1", mime_type: "application/pdf", filename: "a.pdf", caption: "c" } },
          new InboundEvent.MediaContent({
            kind: "document",
            mimeType: "application/pdf",
            filename: "a.pdf",
            caption: "c"
          })
        ],
        [
          { type: "sticker", sticker: { id: "m2", mime_type: "image/webp", animated: false } },
          new InboundEvent.MediaContent({ kind: "sticker", mimeType: "image/webp" })
        ],
        [
          { type: "location", location: { latitude: 1.5, longitude: 2.5, name: "Here", address: "There" } },
          new InboundEvent.LocationContent({ latitude: 1.5, longitude: 2.5, name: "Here", address: "There" })
        ],
        [
          { type: "reaction", reaction: { message_id: "wamid.OUT", emoji: "👍" } },
          new InboundEvent.ReactionContent({ messageId: "wamid.OUT", emoji: "👍" })
        ],
        [
          { type: "reaction", reaction: { message_id: "wamid.OUT" } },
          new InboundEvent.ReactionContent({ messageId: "wamid.OUT", emoji: "" })
        ],
        [
          { type: "interactive", interactive: { type: "button_reply", button_reply: { id: "2", title: "11:00" } } },
          new InboundEvent.TextContent({ text: "11:00" })
        ],
        [
          {
            type: "interactive",
            interactive: { type: "list_reply", list_reply: { id: "4", title: "Thu", description: "x" } }
          },
          new InboundEvent.TextContent({ text: "Thu" })
        ],
        [
          { type: "button", button: { text: "Confirm", payload: "yes" } },
          new InboundEvent.TextContent({ text: "Confirm" })
        ],
        [
          {
            type: "unsupported",
            errors: [{ code: 131051, title: "Message type unknown", error_data: { details: "Not supported" } }],
            unsupported: { type: "poll_creation" }
          },
          new InboundEvent.UnavailableContent({ reason: "Message type unknown (131051): Not supported" })
        ],
        [
          { type: "image", image: { caption: 42 } },
          new InboundEvent.UnavailableContent({ reason: "unexpected shape at image.id: is missing" })
        ]
      ]
      for (const [fields, content] of cases) {
        const [event] = yield* decode({ ...message(fields) })
        expect(event).toMatchObject({
          _tag: "MessageReceived",
          provider: "meta",
          eventId: "message:wamid.IN1",
          messageId: "wamid.IN1",
          chat: ChatId.phone("+31612345678"),
          senderName: "Ada",
          at: new Date(1_795_000_000_000)
        })
        expect(event && event._tag === "MessageReceived" ? event.content : undefined).toEqual(content)
      }
      const [reply] = yield* decode(message({
        type: "text",
        text: { body: "yes" },
        context: { from: "15550000001", id: "wamid.OUT" }
      }))
      expect(reply).toMatchObject({ replyTo: "wamid.OUT" })
    }))

  it.effect("media ids become URLs through the resolver; a failed lookup keeps the message", () =>
    Effect.gen(function*() {
      const resolving = MetaWebhook.make({
        appSecret,
        verifyToken,
        media: (id) =>
          Effect.succeed(
            id === "known"
              ? Option.some({ url: `https://lookaside.example/${id}`, mimeType: "image/jpeg" })
              : Option.none()
          )
      })
      const events = (id: string) => {
        const raw = signed(JSON.stringify(envelope(message({ type: "image", image: { id } }))))
        return resolving.decode(raw)
      }
      expect(yield* events("known")).toMatchObject([
        {
          content: new InboundEvent.MediaContent({
            kind: "image",
            url: "https://lookaside.example/known",
            mimeType: "image/jpeg"
          })
        }
      ])
      expect(yield* events("gone")).toMatchObject([{ content: new InboundEvent.MediaContent({ kind: "image" }) }])
    }))

  it.effect("statuses, failed ones with Meta's error; unknown statuses are ignored", () =>
    Effect.gen(function*() {
      const status = (fields: Record<string, unknown>) => ({
        statuses: [{ id: "wamid.OUT", timestamp: "1795000100", recipient_id: "31612345678", ...fields }]
      })
      expect(yield* decode(status({ status: "read" }))).toEqual([
        new InboundEvent.StatusChanged({
          provider: "meta",
          eventId: "status:wamid.OUT:read",
          messageId: "wamid.OUT",
          chat: ChatId.phone("+31612345678"),
          status: "read",
          at: new Date(1_795_000_100_000)
        })
      ])
      const [failed] = yield* decode(status({
        status: "failed",
        errors: [{ code: 131047, title: "Re-engagement message", error_data: { details: "More than 24 hours" } }]
      }))
      expect(failed).toMatchObject({ status: "failed", error: "Re-engagement message (131047): More than 24 hours" })
      expect(yield* decode(status({ status: "deleted" }))).toEqual([])
    }))

  it.effect("errors of the whole delivery, and parts that cannot be addressed, are logged and skipped", () =>
    Effect.gen(function*() {
      const capture = yield* Capture.make
      const events = yield* decode({
        errors: [{ code: 130429, title: "Rate limit hit", error_data: { details: "Too many messages" } }],
        messages: [{ id: "wamid.X", timestamp: "1", type: "text", text: { body: "no sender" } }],
        statuses: [{ id: "wamid.Y" }]
      }).pipe(Effect.provide(capture.layer))
      expect(events).toEqual([])
      const logged = yield* capture.text
      expect(logged).toContain("Rate limit hit (130429): Too many messages")
      expect(logged).toContain("messages.0: unexpected shape at from: is missing")
      expect(logged).toContain("statuses.0: unexpected shape at status: is missing")
    }).pipe(Effect.scoped))

  it.effect("never refuses a verified delivery for its shape; only a body that is not JSON is a 400", () =>
    Effect.gen(function*() {
      for (
        const body of [
          "{}",
          "[]",
          "{\"object\":\"page\",\"entry\":[{\"id\":\"1\",\"changes\":[{\"field\":\"feed\",\"value\":{}}]}]}"
        ]
      ) {
        expect(yield* handler.decode(signed(body))).toEqual([])
      }
      expect(yield* Effect.flip(handler.decode(signed("{not json")))).toMatchObject({ status: 400 })
    }))
})

describe("WebhookServer with Meta", () => {
  it.live("serves the GET verification on /webhooks/meta and takes signed posts", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "parley-meta-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const context = yield* Layer.build(
        WebhookServer.layer({ port: 0, handlers: [handler] }).pipe(
          Layer.provideMerge(Layer.provideMerge(Bot.layerStore, SqliteClient.layer({ filename: join(dir, "db") })))
        )
      )
      const address = (yield* Effect.provide(HttpServer.HttpServer, context)).address
      const base = address._tag === "UnixPathAddress" ? "" : `http://127.0.0.1:${address.port}`
      const get = (query: string) =>
        Effect.promise(() =>
          fetch(`${base}/webhooks/meta?${query}`).then(async (r) => ({ status: r.status, body: await r.text() }))
        )
      expect(yield* get("hub.mode=subscribe&hub.verify_token=verify-token-31c0&hub.challenge=42")).toEqual({
        status: 200,
        body: "42"
      })
      expect((yield* get("hub.mode=subscribe&hub.verify_token=nope&hub.challenge=42")).status).toBe(403)
      expect((yield* get("hub.mode=subscribe")).status).toBe(400)
      expect((yield* Effect.promise(() => fetch(`${base}/webhooks/chatsend?hub.challenge=1`))).status).toBe(404)
      const body = JSON.stringify(envelope(message({ type: "text", text: { body: "hi" } })))
      const posted = yield* Effect.promise(() =>
        fetch(`${base}/webhooks/meta`, {
          method: "POST",
          body,
          headers: {
            "content-type": "application/json",
            "x-hub-signature-256": ProviderWebhook.sign(MetaApi.signature(appSecret), body)
          }
        }).then(async (r) => ({ status: r.status, body: await r.json() }))
      )
      expect(posted).toEqual({ status: 200, body: { status: "ok", accepted: 1, duplicates: 0 } })
    }))
})
