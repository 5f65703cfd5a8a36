import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { ChatId, InboundEvent, Message, MessagingService } from "@parley/core"
import { ProviderWebhook } from "@parley/core/provider"
import { Emulator, FakeNetwork, Faults, WebhookReceiver } from "@parley/testing"
import { Wawp, WawpApi, WawpWebhook } from "@parley/wawp"
import * as WawpEmulator from "@parley/wawp/emulator"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"

const user = ChatId.phone("+31612345678")
const jid = "31612345678@c.us"
const instanceId = "K7QX2M9P4LZA"
const accessToken = "wawp_live_8c1f3e9a7b2d4c6e0f5a9b8c7d6e5f4a"

// Settings read from these variables only.
const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

const Env = Layer.merge(FakeNetwork.layer({ autoAck: false }), NodeHttpClient.layerUndici)

const setup = (
  options: {
    readonly token?: string
    readonly emulator?: WawpEmulator.Options
    readonly messaging?: Partial<Wawp.Options>
  } = {}
) =>
  Effect.gen(function*() {
    const emulator = yield* WawpEmulator.make({ instanceId, accessToken, ...options.emulator })
    const context = yield* Layer.build(
      Wawp.layer({
        baseUrl: `${emulator.url}/`,
        instanceId,
        accessToken: Redacted.make(options.token ?? accessToken),
        retry: false,
        ...options.messaging
      })
    )
    const network = yield* FakeNetwork.FakeNetwork
    return { emulator, network, client: Context.get(context, MessagingService.MessagingService) }
  })

const fetchJson = (url: string, init: RequestInit) =>
  Effect.promise(() =>
    fetch(url, init).then(async (r) => ({ status: r.status, body: await r.json() as Record<string, unknown> }))
  )

describe("Wawp client", () => {
  it.live("uses each endpoint with credentials in the query string and the JSON body", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup()
      const quoted = (yield* client.send(Message.text(user, "Hi"))).messageId
      const auth = { instance_id: instanceId, access_token: accessToken }
      const cdn = "https://cdn.example"
      // Each message, and the request it must become.
      const cases: ReadonlyArray<readonly [Message.Message, string, Record<string, unknown>]> = [
        [Message.text(user, "Re", { replyTo: quoted }), "POST /v2/send/text", { message: "Re", reply_to: quoted }],
        [
          Message.image(user, { url: `${cdn}/x.png`, caption: "X", replyTo: quoted }),
          "POST /v2/send/image",
          { file: { url: `${cdn}/x.png`, filename: "x.png", mimetype: "image/png" }, caption: "X", reply_to: quoted }
        ],
        [
          Message.video(user, { url: `${cdn}/x.mp4`, caption: "V" }),
          "POST /v2/send/video",
          { file: { url: `${cdn}/x.mp4`, filename: "x.mp4", mimetype: "video/mp4" }, caption: "V" }
        ],
        [
          Message.audio(user, { url: `${cdn}/note.ogg` }),
          "POST /v2/send/voice",
          { file: { url: `${cdn}/note.ogg`, filename: "note.ogg", mimetype: "audio/ogg" } }
        ],
        [
          Message.audio(user, { url: `${cdn}/song.mp3` }),
          "POST /v2/send/voice",
          { file: { url: `${cdn}/song.mp3`, filename: "song.mp3", mimetype: "audio/mpeg" }, convert: true }
        ],
        [
          Message.document(user, { url: `${cdn}/d?id=1`, filename: "Plan.pdf", caption: "P" }),
          "POST /v2/send/pdf",
          { file: { url: `${cdn}/d?id=1`, filename: "Plan.pdf", mimetype: "application/pdf" }, caption: "P" }
        ],
        [
          Message.location(user, {
            latitude: 52.37,
            longitude: 4.89,
            name: "Dam",
            address: "Amsterdam",
            replyTo: quoted
          }),
          "POST /v2/send/location",
          { latitude: 52.37, longitude: 4.89, title: "Dam", message: "Amsterdam", reply_to: quoted }
        ]
      ]
      for (const [message] of cases) yield* client.send(message)
      yield* client.send(Message.reaction(user, { messageId: quoted, emoji: "❤️" }))

      const requests = yield* emulator.requests
      const urls = requests.map((r) => new URL(r.url, "http://localhost"))
      for (const url of urls) {
        expect(Object.fromEntries(url.searchParams)).toEqual(auth)
      }
      const observed = requests.map((r, i) => [`${r.method} ${urls[i]!.pathname}`, r.body])
      expect(observed).toEqual([
        ["POST /v2/send/text", { ...auth, chatId: jid, message: "Hi" }],
        ...cases.map(([, endpoint, body]) => [endpoint, { ...auth, chatId: jid, ...body }]),
        ["PUT /v2/send/reaction", { ...auth, messageId: quoted, reaction: "❤️" }]
      ])
    }).pipe(Effect.provide(Env)))

  it.live("renders groups and channels as JIDs", () =>
    Effect.gen(function*() {
      const { client, emulator, network } = yield* setup()
      const group = yield* client.send(Message.text(ChatId.group("120363025246125486@g.us"), "Team update"))
      yield* client.send(Message.text(Result.getOrThrow(ChatId.parse("120363401234567890@newsletter")), "News"))
      const bodies = (yield* emulator.requests).map((r) => r.body)
      expect(bodies).toMatchObject([{ chatId: "120363025246125486@g.us" }, { chatId: "120363401234567890@newsletter" }])
      expect(Option.map(yield* network.find(group.messageId), (m) => m.chat.kind)).toEqual(Option.some("group"))
    }).pipe(Effect.provide(Env)))

  it.live("the receipt carries id._serialized; ack decides accepted or sent; extra fields are ignored", () =>
    Effect.gen(function*() {
      const { client, emulator, network } = yield* setup()
      const pending = yield* client.send(Message.text(user, "Hi"))
      expect(pending.status).toBe("accepted")
      expect(pending.messageId).toMatch(/^true_31612345678@c\.us_[0-9A-F]+$/)
      expect(Option.isSome(yield* network.find(pending.messageId))).toBe(true)

      const serialized = "true_31612345678@c.us_3EB0C767D71D1F1A2B3C"
      yield* emulator.faults.next(
        1,
        Faults.respond(200, {
          id: { fromMe: true, remote: jid, id: "3EB0C767D71D1F1A2B3C", _serialized: serialized, self: "out" },
          ack: 1,
          hasMedia: false,
          body: "Hi",
          type: "chat",
          timestamp: 1_760_000_000,
          vCards: [],
          mentionedIds: [],
          links: [],
          _data: { id: { _serialized: serialized }, star: false }
        })
      )
      expect(yield* client.send(Message.text(user, "Hi"))).toMatchObject({ messageId: serialized, status: "sent" })
    }).pipe(Effect.provide(Env)))

  it.live("maps Wawp's statuses and error bodies", () =>
    Effect.gen(function*() {
      const { client, emulator, network } = yield* setup()
      const send = Effect.flip(client.send(Message.text(user, "hi")))
      const next = (status: number, body: unknown) => emulator.faults.next(1, Faults.respond(status, body))

      yield* next(401, { status: 401, message: "Invalid access token", error: "unauthorized" })
      expect(yield* send).toMatchObject({ _tag: "Unauthorized", status: 401 })

      yield* next(403, { status: 403, message: "Monthly message quota reached", error: "quota_reached" })
      expect(yield* send).toMatchObject({
        _tag: "Unauthorized",
        status: 403,
        reason: "quota_reached: Monthly message quota reached"
      })

      yield* next(403, { status: 403, message: "Upgrade to use this feature", error: "subscription_required" })
      expect(yield* send).toMatchObject({
        _tag: "Unauthorized",
        reason: "subscription_required: Upgrade to use this feature"
      })

      yield* next(400, { status: 400, message: "chatId is required", error: "bad_request" })
      expect(yield* send).toMatchObject({ _tag: "InvalidMessage", field: "body", status: 400 })

      yield* next(502, { status: 502, message: "Engine timeout", error: "wawp_upstream_error" })
      expect(yield* send).toMatchObject({
        _tag: "ProviderUnavailable",
        status: 502,
        reason: "wawp_upstream_error: Engine timeout"
      })

      // An upstream failure is the engine's, even behind a 504 (which alone would be DeliveryUnknown).
      yield* next(504, { error: "wawp_upstream_error" })
      expect(yield* send).toMatchObject({ _tag: "ProviderUnavailable", status: 504 })

      yield* next(200, { wawp_upstream_error: "Session is not ready" })
      const inBody = yield* send
      expect(inBody).toMatchObject({ _tag: "ProviderUnavailable", reason: "wawp_upstream_error: Session is not ready" })
      expect(inBody._tag === "ProviderUnavailable" && inBody.status).toBe(undefined)

      yield* next(404, { code: "invalid_session", message: "Session disconnected, scan the QR code again" })
      expect(yield* send).toMatchObject({ _tag: "ProviderUnavailable", status: 404 })

      yield* next(500, { status: 500, message: "Internal server error", error: "internal_error" })
      expect(yield* send).toMatchObject({ _tag: "ProviderUnavailable", status: 500 })

      yield* next(200, { ok: true })
      expect(yield* send).toMatchObject({ _tag: "DeliveryUnknown" })

      yield* network.unregister(user)
      expect(yield* send).toMatchObject({ _tag: "RecipientUnavailable", chat: jid })
    }).pipe(Effect.provide(Env)))

  it.live("a session that is not WORKING is ProviderUnavailable, as a 502 or inside a 200", () =>
    Effect.gen(function*() {
      for (const style of ["status", "body"] as const) {
        const { client, emulator } = yield* setup({ emulator: { upstreamErrorAs: style } })
        yield* emulator.setSessionStatus("STOPPED")
        const error = yield* Effect.flip(client.send(Message.text(user, "hi")))
        expect(error).toMatchObject({
          _tag: "ProviderUnavailable",
          reason: "wawp_upstream_error: WhatsApp session is STOPPED"
        })
        expect(error._tag === "ProviderUnavailable" && error.status).toBe(style === "status" ? 502 : undefined)
        yield* emulator.setSessionStatus("WORKING")
        expect((yield* client.send(Message.text(user, "back"))).provider).toBe("wawp")
      }
    }).pipe(Effect.provide(Env)))

  it.live("wawp_upstream_error is retried by the schedule", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup({ messaging: { retry: Schedule.recurs(3) } })
      yield* emulator.faults.next(1, WawpEmulator.upstreamError("body"))
      yield* emulator.faults.next(1, WawpEmulator.upstreamError("status"))
      const receipt = yield* client.send(Message.text(user, "eventually"))
      expect(receipt.provider).toBe("wawp")
      expect((yield* emulator.requests).length).toBe(3)
    }).pipe(Effect.provide(Env)))

  it.live("the emulator's quota ends in Unauthorized quota_reached", () =>
    Effect.gen(function*() {
      const { client } = yield* setup({ emulator: { quota: 1 } })
      yield* client.send(Message.text(user, "one"))
      expect(yield* Effect.flip(client.send(Message.text(user, "two")))).toMatchObject({
        _tag: "Unauthorized",
        status: 403,
        reason: "quota_reached: Message quota of 1 reached for this plan"
      })
    }).pipe(Effect.provide(Env)))

  it.live("the reaction path is configurable, and an answer without an id names the message reacted to", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup({
        emulator: { reactionPath: "/v2/reaction" },
        messaging: { reactionPath: "/v2/reaction" }
      })
      const text = yield* client.send(Message.text(user, "Hi"))
      const reaction = yield* client.send(Message.reaction(user, { messageId: text.messageId, emoji: "👍" }))
      expect(reaction.messageId).not.toBe(text.messageId)
      yield* emulator.faults.next(1, Faults.respond(200, { success: true }))
      const bare = yield* client.send(Message.reaction(user, { messageId: text.messageId, emoji: "" }))
      expect(bare.messageId).toBe(text.messageId)
      expect((yield* emulator.requests).map((r) => `${r.method} ${new URL(r.url, "http://x").pathname}`)).toEqual([
        "POST /v2/send/text",
        "PUT /v2/reaction",
        "PUT /v2/reaction"
      ])
    }).pipe(Effect.provide(Env)))

  it.live("templates are Unsupported with no request", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup()
      const error = yield* Effect.flip(client.send(Message.template(user, { name: "welcome" })))
      expect(error._tag).toBe("Unsupported")
      expect(yield* emulator.requests).toEqual([])
    }).pipe(Effect.provide(Env)))

  it.effect("config reads PARLEY_WAWP_* settings", () =>
    Effect.gen(function*() {
      const options = yield* Wawp.config
      expect(options.baseUrl).toBe("https://api.wawp.net")
      expect(options.instanceId).toBe(instanceId)
      expect(Redacted.value(options.accessToken)).toBe("t0ken")
      expect(String(options.accessToken)).not.toContain("t0ken")
      expect(options.reactionPath).toBe("/v2/reaction")
      expect(options.rateLimit).toEqual({ perSecond: 2, burst: 4 })
    }).pipe(
      withEnv({
        PARLEY_WAWP_INSTANCE_ID: instanceId,
        PARLEY_WAWP_ACCESS_TOKEN: "t0ken",
        PARLEY_WAWP_REACTION_PATH: "/v2/reaction",
        PARLEY_WAWP_RATE_LIMIT: "2",
        PARLEY_WAWP_RATE_LIMIT_BURST: "4"
      })
    ))

  it.effect("config names a missing setting", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Wawp.config)
      expect(String(error)).toContain("PARLEY_WAWP_INSTANCE_ID")
      const noToken = yield* Effect.flip(Wawp.config.pipe(withEnv({ PARLEY_WAWP_INSTANCE_ID: instanceId })))
      expect(String(noToken)).toContain("PARLEY_WAWP_ACCESS_TOKEN")
    }).pipe(withEnv({})))
})

// Webhook bodies as Wawp posts them: WAHA envelopes, in an array.
const envelope = (event: string, payload: unknown, id = `evt_${event}_${Math.random().toString(36).slice(2)}`) => ({
  id,
  timestamp: 1_760_000_000_000,
  event,
  session: instanceId,
  me: { id: "15550000001@c.us", pushName: "Clinic" },
  payload,
  engine: "WEBJS"
})
const inboundPayload = (id: string, text: string) => ({
  id,
  timestamp: 1_760_000_000,
  from: jid,
  fromMe: false,
  to: "15550000001@c.us",
  body: text,
  hasMedia: false,
  _data: { notifyName: "Ada" }
})
const inbound = (id: string, text: string) => envelope("message", inboundPayload(id, text))
const ack = (id: string, level: number, name: string) =>
  envelope("message.ack", { id, from: jid, to: jid, fromMe: true, ack: level, ackName: name })

const secret = "whsec_wawp_test_5b7c"
const hmac = (body: string, header = WawpApi.defaultWebhookHeader) =>
  ProviderWebhook.sign({ secret: Redacted.make(secret), header, algorithm: "sha256" }, body)

const postTo = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetchJson(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body })

describe("Wawp webhooks", () => {
  it.live("a signed array is verified, decoded and deduplicated; acks map to statuses", () =>
    Effect.gen(function*() {
      const receiver = yield* WebhookReceiver.make(WawpWebhook.make({ secret: Redacted.make(secret) }))
      const message = inbound("false_31612345678@c.us_3EB0AA", "Book me in")
      const body = JSON.stringify([
        message,
        message,
        ack("true_31612345678@c.us_3EB0BB", 1, "SERVER"),
        ack("true_31612345678@c.us_3EB0BB", 2, "DEVICE"),
        ack("true_31612345678@c.us_3EB0BB", 3, "READ"),
        ack("true_31612345678@c.us_3EB0BB", 4, "PLAYED"),
        ack("true_31612345678@c.us_3EB0CC", -1, "ERROR"),
        ack("true_31612345678@c.us_3EB0DD", 0, "PENDING"),
        envelope("session.status", { status: "WORKING" })
      ])
      const answer = yield* postTo(receiver.url, body, { [WawpApi.defaultWebhookHeader]: hmac(body) })
      expect(answer).toEqual({ status: 200, body: { received: 6 } })
      const events = yield* Queue.takeAll(receiver.events)
      const [first, ...statuses] = [...events]
      expect(first).toMatchObject({
        _tag: "MessageReceived",
        provider: "wawp",
        messageId: "false_31612345678@c.us_3EB0AA",
        senderName: "Ada",
        content: new InboundEvent.TextContent({ text: "Book me in" })
      })
      expect(first?._tag === "MessageReceived" && first.chat.toString()).toBe("+31612345678")
      expect(statuses.map((e) => e._tag === "StatusChanged" && [e.messageId.slice(-2), e.status, e.error])).toEqual([
        ["BB", "sent", undefined],
        ["BB", "delivered", undefined],
        ["BB", "read", undefined],
        ["BB", "played", undefined],
        ["CC", "failed", "ERROR"]
      ])
    }))

  it.live("a wrong or missing signature is 401 with no event", () =>
    Effect.gen(function*() {
      const receiver = yield* WebhookReceiver.make(WawpWebhook.make({ secret: Redacted.make(secret) }))
      const body = JSON.stringify([inbound("false_31612345678@c.us_3EB0AA", "hi")])
      const wrong = yield* postTo(receiver.url, body, { [WawpApi.defaultWebhookHeader]: hmac(`${body} `) })
      expect(wrong).toEqual({ status: 401, body: { error: "signature in X-Webhook-Hmac does not match the body" } })
      const missing = yield* postTo(receiver.url, body)
      expect(missing).toEqual({ status: 401, body: { error: "missing signature header X-Webhook-Hmac" } })
      // SHA-512, as WAHA itself signs, is not what Wawp's SDK verifies.
      const sha512 = ProviderWebhook.sign({ secret: Redacted.make(secret), header: "x", algorithm: "sha512" }, body)
      expect((yield* postTo(receiver.url, body, { [WawpApi.defaultWebhookHeader]: sha512 })).status).toBe(401)
      expect(yield* Queue.size(receiver.events)).toBe(0)
      expect((yield* receiver.rejections).map((r) => r.status)).toEqual([401, 401, 401])
    }))

  it.live("the signature header is configurable", () =>
    Effect.gen(function*() {
      const handler = WawpWebhook.make({ secret: Redacted.make(secret), header: "X-Wawp-Signature" })
      const receiver = yield* WebhookReceiver.make(handler)
      const body = JSON.stringify([inbound("false_31612345678@c.us_3EB0AA", "hi")])
      expect((yield* postTo(receiver.url, body, { "X-Webhook-Hmac": hmac(body) })).status).toBe(401)
      const signed = yield* postTo(receiver.url, body, { "X-Wawp-Signature": hmac(body, "X-Wawp-Signature") })
      expect(signed).toEqual({ status: 200, body: { received: 1 } })
    }))

  it.live("without a secret, a token in the path or in a query parameter", () =>
    Effect.gen(function*() {
      const body = JSON.stringify([inbound("false_31612345678@c.us_3EB0AA", "hi")])
      const token = Redacted.make("tok_9f8e7d")
      const inPath = yield* WebhookReceiver.make(WawpWebhook.make({ token }))
      expect((yield* postTo(`${inPath.url}/tok_9f8e7d`, body)).status).toBe(200)
      expect((yield* postTo(`${inPath.url}/tok_wrong`, body)).status).toBe(401)
      expect((yield* postTo(inPath.url, body)).status).toBe(401)

      const inQuery = yield* WebhookReceiver.make(WawpWebhook.make({ token, queryParam: "secret" }))
      expect((yield* postTo(`${inQuery.url}?secret=tok_9f8e7d`, body)).status).toBe(200)
      expect(yield* postTo(`${inQuery.url}?secret=nope`, body)).toEqual({
        status: 401,
        body: { error: "webhook token does not match" }
      })
      expect((yield* postTo(`${inQuery.url}?token=tok_9f8e7d`, body)).status).toBe(401)
      expect(yield* Queue.size(inQuery.events)).toBe(1)

      const open = yield* WebhookReceiver.make(WawpWebhook.make({}))
      expect((yield* postTo(open.url, body)).status).toBe(401)
    }))

  it.live("a verified batch is never refused for its shape: each event is kept, made unavailable or skipped on its own", () =>
    Effect.gen(function*() {
      const receiver = yield* WebhookReceiver.make(WawpWebhook.make({ secret: Redacted.make(secret) }))
      const send = (body: string) => postTo(receiver.url, body, { [WawpApi.defaultWebhookHeader]: hmac(body) })
      const malformed = yield* send("[{\"event\":")
      expect(malformed.status).toBe(400)
      expect(String(malformed.body.error)).toMatch(/^malformed JSON/)

      const batch = yield* send(JSON.stringify([
        inbound("false_31612345678@c.us_3EB0B1", "first"),
        // A context without a quote: WAHA documents that replyTo's id may be absent.
        envelope("message", { ...inboundPayload("false_31612345678@c.us_3EB0B2", "odd"), replyTo: { body: null } }),
        // Content of a shape Parley does not know: kept, as unavailable.
        envelope("message", { ...inboundPayload("false_31612345678@c.us_3EB0B3", ""), body: 42 }),
        // Nothing to address it to: skipped.
        envelope("message", { id: "x", timestamp: 1, fromMe: false }),
        { session: instanceId, payload: {} },
        ack("true_31612345678@c.us_3EB0B4", 3, "READ")
      ]))
      expect(batch).toEqual({ status: 200, body: { received: 4 } })
      const events = [...yield* Queue.takeAll(receiver.events)]
      expect(events.map((e) => e._tag === "MessageReceived" ? [e.messageId.slice(-2), e.content, e.replyTo] : e.status))
        .toEqual([
          ["B1", new InboundEvent.TextContent({ text: "first" }), undefined],
          ["B2", new InboundEvent.TextContent({ text: "odd" }), undefined],
          [
            "B3",
            new InboundEvent.UnavailableContent({
              // Effect 4 describes a failed union as a whole (Effect 3 named its first member: "Expected string").
              reason: "unexpected shape at payload.body: Expected string | null, actual 42"
            }),
            undefined
          ],
          "read"
        ])
      expect(yield* receiver.rejections).toMatchObject([{ status: 400 }])
    }))

  it.effect("WawpWebhook.config reads PARLEY_WAWP_WEBHOOK_* settings", () =>
    Effect.gen(function*() {
      const options = yield* WawpWebhook.config
      expect(options.secret).toBeUndefined()
      expect(Redacted.value(options.token!)).toBe("tok")
      expect(options.queryParam).toBe("secret")
      expect(options.header).toBe("X-Wawp-Signature")
    }).pipe(
      withEnv({
        PARLEY_WAWP_WEBHOOK_TOKEN: "tok",
        PARLEY_WAWP_WEBHOOK_QUERY_PARAM: "secret",
        PARLEY_WAWP_WEBHOOK_HEADER: "X-Wawp-Signature"
      })
    ))
})

describe("Wawp emulator", () => {
  it.live("accepts credentials in the body, the query, the access-token header, or Bearer + X-Instance-ID", () =>
    Effect.gen(function*() {
      const { emulator } = yield* setup()
      const send = (options: { query?: string; headers?: Record<string, string>; body?: Record<string, unknown> }) =>
        fetchJson(`${emulator.url}/v2/send/text${options.query ?? ""}`, {
          method: "POST",
          headers: { "content-type": "application/json", ...options.headers },
          body: JSON.stringify({ chatId: jid, message: "hi", ...options.body })
        })
      const placements = [
        { body: { instance_id: instanceId, access_token: accessToken } },
        { query: `?instance_id=${instanceId}&access_token=${accessToken}` },
        { headers: { "access-token": accessToken }, body: { instance_id: instanceId } },
        { headers: { authorization: `Bearer ${accessToken}`, "x-instance-id": instanceId } }
      ]
      for (const placement of placements) expect((yield* send(placement)).status).toBe(200)

      expect(yield* send({ body: { instance_id: instanceId } })).toEqual({
        status: 401,
        body: { status: 401, message: "Missing access_token", error: "unauthorized" }
      })
      expect(yield* send({ body: { access_token: accessToken } })).toMatchObject({
        status: 400,
        body: { message: "Missing instance_id" }
      })
      expect(yield* send({ headers: { authorization: "Bearer nope", "x-instance-id": instanceId } })).toMatchObject({
        status: 401,
        body: { message: "Invalid instance_id or access_token" }
      })
      expect(yield* send({ body: { instance_id: "OTHERINSTANC", access_token: accessToken } })).toMatchObject({
        status: 401
      })
    }).pipe(Effect.provide(Env)))

  it.live("answers the whatsapp-web.js message object", () =>
    Effect.gen(function*() {
      const { emulator } = yield* setup()
      const ok = yield* fetchJson(
        `${emulator.url}/v2/send/text?instance_id=${instanceId}&access_token=${accessToken}`,
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ chatId: jid, message: "hi" })
        }
      )
      expect(ok.status).toBe(200)
      expect(ok.body).toMatchObject({
        id: { fromMe: true, remote: jid },
        ack: 0,
        hasMedia: false,
        body: "hi",
        type: "chat",
        from: "15550000001@c.us",
        to: jid,
        fromMe: true,
        _data: { type: "chat", body: "hi" }
      })
      const id = ok.body.id as { id: string; _serialized: string }
      expect(id._serialized).toBe(`true_${jid}_${id.id}`)
      expect(typeof ok.body.timestamp).toBe("number")
    }).pipe(Effect.provide(Env)))

  it.live("validates requests with the documented limits", () =>
    Effect.gen(function*() {
      const { emulator } = yield* setup()
      const call = (path: string, body: unknown, method = "POST") =>
        fetchJson(`${emulator.url}${path}`, {
          method,
          headers: { "content-type": "application/json", "access-token": accessToken },
          body: typeof body === "string" ? body : JSON.stringify({ instance_id: instanceId, ...body as object })
        })
      const file = (url: string, mimetype?: string) => ({ url, filename: "f", ...(mimetype ? { mimetype } : {}) })
      const rejected = (message: string) => ({ status: 400, body: { status: 400, message, error: "bad_request" } })

      expect(yield* call("/v2/send/text", { chatId: jid, message: "x".repeat(4097) })).toEqual(
        rejected("message exceeds 4096 characters")
      )
      expect(yield* call("/v2/send/text", { chatId: jid, message: "  " })).toEqual(rejected("message is required"))
      expect(yield* call("/v2/send/text", { message: "hi" })).toEqual(rejected("chatId: is missing"))
      expect(yield* call("/v2/send/text", { chatId: "+31612345678", message: "hi" })).toEqual(
        rejected("chatId must be a WhatsApp JID (…@c.us, …@g.us, …@newsletter)")
      )
      expect(yield* call("/v2/send/text", "{not json")).toEqual(rejected("malformed JSON body"))
      expect(yield* call("/v2/send/image", { chatId: jid, file: file("https://cdn.example/a.webp", "image/webp") }))
        .toEqual(rejected("file.mimetype must be image/jpeg or image/png"))
      expect(yield* call("/v2/send/image", { chatId: jid, file: file("ftp://cdn.example/a.png") })).toEqual(
        rejected("file.url must be an http(s) or data: URL")
      )
      expect(yield* call("/v2/send/image", { chatId: jid, file: file("https://x/a.png"), caption: "c".repeat(1025) }))
        .toEqual(rejected("caption exceeds 1024 characters"))
      expect(
        yield* call("/v2/send/pdf", {
          chatId: jid,
          file: file(`data:application/pdf;base64,${"A".repeat(23 * 1024 * 1024)}`)
        })
      ).toEqual(rejected("file exceeds 16 MB"))
      expect(yield* call("/v2/send/voice", { chatId: jid, file: file("https://x/a.mp3", "audio/mpeg") })).toEqual(
        rejected("voice notes must be OGG/Opus (audio/ogg); set convert: true to transcode")
      )
      expect(yield* call("/v2/send/location", { chatId: jid, latitude: 91, longitude: 0 })).toEqual(
        rejected("latitude must be between -90 and 90")
      )
      expect(yield* call("/v2/send/reaction", { messageId: "true_x@c.us_NOPE", reaction: "👍" }, "PUT")).toMatchObject({
        status: 404,
        body: { error: "not_found" }
      })

      const small = yield* call("/v2/send/pdf", {
        chatId: jid,
        file: file("data:application/pdf;base64,JVBERi0xLjQK", "application/pdf"),
        caption: "Invoice"
      })
      expect(small).toMatchObject({ status: 200, body: { type: "document", hasMedia: true, body: "Invoice" } })
      const voice = yield* call("/v2/send/voice", {
        chatId: jid,
        file: file("https://x/a.mp3", "audio/mpeg"),
        convert: true
      })
      expect(voice).toMatchObject({ status: 200, body: { type: "ptt" } })
    }).pipe(Effect.provide(Env)))

  it.live("posts signed WAHA envelopes, in arrays, for user messages and acks", () =>
    Effect.gen(function*() {
      const { client, emulator, network } = yield* setup({ emulator: { webhookSecret: secret } })
      const posts = yield* Queue.unbounded<{ readonly body: string; readonly signature: string | undefined }>()
      const app = Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const body = yield* Effect.orDie(request.text)
        yield* Queue.offer(posts, { body, signature: request.headers["x-webhook-hmac"] })
        return HttpServerResponse.empty()
      })
      const hook = yield* Emulator.serve({ app, faults: yield* Faults.make })
      yield* emulator.setWebhookUrl(`${hook.url}/hook`)
      const wrote = yield* network.userSends({
        from: user,
        to: emulator.business,
        content: { kind: "text", text: "hi" }
      })
      const first = yield* Queue.take(posts).pipe(Effect.timeout("5 seconds"))
      const receipt = yield* client.send(Message.text(user, "hello"))
      yield* network.setStatus(receipt.messageId, "delivered")
      const second = yield* Queue.take(posts).pipe(Effect.timeout("5 seconds"))
      expect([first, second].map((post) => JSON.parse(post.body))).toMatchObject([
        [{ event: "message", session: instanceId, engine: "WEBJS", payload: { id: wrote.id, body: "hi", from: jid } }],
        [{ event: "message.ack", payload: { id: receipt.messageId, ack: 2, fromMe: true } }]
      ])
      for (const post of [first, second]) expect(post.signature).toBe(hmac(post.body))
    }).pipe(Effect.provide(Env)))
})
