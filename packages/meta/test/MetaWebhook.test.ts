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
import * as Fixtures from "./fixtures/deliveries.js"

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

describe("MetaWebhook, on deliveries of the shapes Meta sends", () => {
  const events = (body: unknown) => {
    const raw = signed(JSON.stringify(body))
    return Effect.andThen(handler.verify(raw), handler.decode(raw))
  }
  const contentOf = (body: unknown) =>
    Effect.map(events(body), (all) => {
      expect(all).toHaveLength(1)
      return all[0]!._tag === "MessageReceived" ? all[0]!.content : undefined
    })
  const user = ChatId.phone(`+${Fixtures.user.waId}`)

  it.effect("forwarded messages (a context without an id) keep their content and reply to nothing", () =>
    Effect.gen(function*() {
      const { audio, document, frequentlyForwarded, location, text, video } = Fixtures.forwarded
      const cases: ReadonlyArray<readonly [Record<string, unknown>, InboundEvent.Content]> = [
        [text, new InboundEvent.TextContent({ text: "Is this offer still valid?" })],
        [frequentlyForwarded, new InboundEvent.TextContent({ text: "Share this with ten friends" })],
        [video, new InboundEvent.MediaContent({ kind: "video", mimeType: "video/mp4", caption: "the waiting room" })],
        [
          document,
          new InboundEvent.MediaContent({
            kind: "document",
            mimeType: "application/pdf",
            filename: "referral.pdf",
            caption: "my referral"
          })
        ],
        [audio, new InboundEvent.MediaContent({ kind: "audio", mimeType: "audio/ogg; codecs=opus" })],
        [location, new InboundEvent.LocationContent({ latitude: 52.3731, longitude: 4.8922 })]
      ]
      for (const [fields, content] of cases) {
        const [event] = yield* events(Fixtures.message(fields))
        expect(event).toMatchObject({ _tag: "MessageReceived", chat: user, senderName: Fixtures.user.name, content })
        expect(event).toHaveProperty("replyTo", undefined)
      }
      const [reply] = yield* events(Fixtures.message(Fixtures.reply))
      expect(reply).toMatchObject({
        content: new InboundEvent.TextContent({ text: "Tuesday works" }),
        replyTo: "wamid.HBgLMzE2MTIzNDU2NzgVAgARGBJPVVQ3NzEwMDAwMQA="
      })
    }))

  it.effect("one odd field costs that field, never the message", () =>
    Effect.gen(function*() {
      const text = { type: "text", text: { body: "hello" } }
      const odd: ReadonlyArray<Record<string, unknown>> = [
        { ...text, context: { id: 42, forwarded: "yes" } },
        { ...text, context: "forwarded" },
        { ...text, timestamp: 1_795_000_000 },
        { ...text, referral: "an ad" },
        { ...text, identity: { acknowledged: "maybe" } },
        { ...text, image: { id: 7 } },
        Fixtures.fromAd
      ]
      for (const fields of odd) {
        expect(yield* contentOf(Fixtures.message(fields))).toBeInstanceOf(InboundEvent.TextContent)
      }
      // Inside the content, an odd optional field is dropped and the rest is kept.
      expect(
        yield* contentOf(Fixtures.message({
          type: "image",
          image: { id: "1843920156274405", mime_type: "image/png", caption: ["not", "text"], sha256: 5, voice: "no" }
        }))
      ).toEqual(new InboundEvent.MediaContent({ kind: "image", mimeType: "image/png" }))
      // Profiles are read one by one: one without a phone number (a username) costs only its own name.
      const [named] = yield* events(Fixtures.delivery({
        contacts: [
          { profile: { name: "Sam", username: "@sam.bakes" }, user_id: "NL.31980045127733641902" },
          Fixtures.contact
        ],
        messages: [{ from: Fixtures.user.waId, id: "wamid.A", timestamp: "1795000000", ...text }]
      }))
      expect(named).toMatchObject({ senderName: Fixtures.user.name })
    }))

  it.effect("media: the delivery's own URL is used as it is; a media id goes through the resolver", () =>
    Effect.gen(function*() {
      const looked: Array<string> = []
      const resolving = MetaWebhook.make({
        appSecret,
        verifyToken,
        media: (id) =>
          Effect.sync(
            () => (looked.push(id), Option.some({ url: `https://graph.example/${id}`, mimeType: "image/jpeg" }))
          )
      })
      const decodeWith = (body: unknown) => resolving.decode(signed(JSON.stringify(body)))
      const [withUrl] = yield* decodeWith(Fixtures.message(Fixtures.imageWithUrl))
      expect(withUrl).toMatchObject({
        content: new InboundEvent.MediaContent({
          kind: "image",
          mimeType: "image/jpeg",
          url: Fixtures.imageWithUrl.image.url
        })
      })
      expect(looked).toEqual([])
      const [byId] = yield* decodeWith(Fixtures.message(Fixtures.forwarded.video))
      expect(byId).toMatchObject({ content: { url: "https://graph.example/1843920156274401", mimeType: "video/mp4" } })
      expect(looked).toEqual(["1843920156274401"])
    }))

  it.effect("what Parley does not read is kept with the reason; events about the chat give nothing", () =>
    Effect.gen(function*() {
      expect(yield* contentOf(Fixtures.message(Fixtures.unsupported))).toEqual(
        new InboundEvent.UnavailableContent({
          reason: "Message type unknown (131051): Message type is currently not supported."
        })
      )
      expect(yield* contentOf(Fixtures.message(Fixtures.flowReply))).toEqual(
        new InboundEvent.UnavailableContent({
          reason: "a WhatsApp Flow's answer (nfm_reply), which Parley does not read"
        })
      )
      expect(yield* contentOf(Fixtures.message({ type: "edit", edit: { original_message_id: "wamid.X" } }))).toEqual(
        new InboundEvent.UnavailableContent({ reason: "a message of type edit, which Parley does not read" })
      )
      // Type names that are also JavaScript's own property names are only names.
      for (const type of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
        expect(yield* contentOf(Fixtures.message({ type, [type]: { body: "x" } }))).toEqual(
          new InboundEvent.UnavailableContent({ reason: `a message of type ${type}, which Parley does not read` })
        )
      }
      const capture = yield* Capture.make
      const [withError] = yield* events(Fixtures.interactiveWithError).pipe(Effect.provide(capture.layer))
      expect(withError).toMatchObject({
        content: new InboundEvent.UnavailableContent({ reason: "an interactive message Parley does not read" }),
        replyTo: "wamid.HBgLMzE2MTIzNDU2NzgVAgARGBJCVE43NzEwMDAwMQA="
      })
      expect(yield* capture.text).toContain("Something went wrong (131000): Unsupported webhook payload")
      expect(yield* events(Fixtures.message(Fixtures.changedNumber))).toEqual([])
      expect(yield* events(Fixtures.message(Fixtures.revoked))).toEqual([])
    }).pipe(Effect.scoped))

  it.effect("a username without a phone number, and a group message, are logged and skipped: this provider cannot answer them", () =>
    Effect.gen(function*() {
      const capture = yield* Capture.make
      expect(yield* events(Fixtures.fromUsername).pipe(Effect.provide(capture.layer))).toEqual([])
      expect(
        yield* events(Fixtures.message({ type: "text", text: { body: "hi all" }, group_id: "Kx7pQ2mZ9vLw" })).pipe(
          Effect.provide(capture.layer)
        )
      ).toEqual([])
      const logged = yield* capture.text
      expect(logged).toContain(
        "entry.0.changes.0.value.messages.0: a message from NL.31980045127733641902, a WhatsApp username without a phone number"
      )
      expect(logged).toContain("a message in group Kx7pQ2mZ9vLw")
    }).pipe(Effect.scoped))

  it.effect("statuses: played (a voice message), per-message pricing, trackers, groups, failures", () =>
    Effect.gen(function*() {
      const id = "wamid.HBgLMzE2MTIzNDU2NzgVAgARGBJPVVQ3NzEwMDAwMQA="
      expect(yield* events(Fixtures.status(Fixtures.played))).toEqual([
        new InboundEvent.StatusChanged({
          provider: "meta",
          eventId: `status:${id}:played`,
          messageId: id,
          chat: user,
          status: "played",
          at: new Date(1_795_000_100_000)
        })
      ])
      expect(yield* events(Fixtures.status(Fixtures.sentWithTracker))).toMatchObject([{ status: "sent", chat: user }])
      const [group] = yield* events(Fixtures.status(Fixtures.readInGroup))
      expect(group).toMatchObject({ status: "read", messageId: id })
      expect(group).toHaveProperty("chat", undefined)
      expect(yield* events(Fixtures.status(Fixtures.failedExperiment))).toMatchObject([{
        status: "failed",
        error:
          "User's number is part of an experiment (130472): Failed to send message because this user's phone number is part of an experiment"
      }])
      // A status whose other fields are odd is still a status.
      expect(
        yield* events(Fixtures.status({ status: "delivered", timestamp: 1_795_000_100, conversation: "x", pricing: 1 }))
      )
        .toMatchObject([{ status: "delivered", at: new Date(1_795_000_100_000) }])
      expect(yield* events(Fixtures.status({ status: "failed", errors: [{ title: "no code" }] }))).toMatchObject([{
        status: "failed",
        error: "failed"
      }])
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
