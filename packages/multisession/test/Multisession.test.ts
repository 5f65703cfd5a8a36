import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it } from "@effect/vitest"
import { ChatId, InboundEvent, Message, MessagingService, Webhook } from "@parley/core"
import { Multisession, MultisessionApi, MultisessionWebhook } from "@parley/multisession"
import * as MultisessionEmulator from "@parley/multisession/emulator"
import { Emulator, FakeNetwork, Faults, WebhookReceiver } from "@parley/testing"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"

const user = ChatId.phone("+6281234567890")
const userJid = "6281234567890@s.whatsapp.net"
const token = MultisessionEmulator.deviceToken("device-1")
const secret = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
const MB = 1024 * 1024

const Env = Layer.merge(FakeNetwork.layer({ autoAck: false }), NodeHttpClient.layerUndici)
const httpClients = {
  "NodeHttpClient.layer": NodeHttpClient.layer,
  "NodeHttpClient.layerUndici": NodeHttpClient.layerUndici
}

interface Served {
  readonly bytes: number
  readonly type: string
  /** Stream it without `Content-Length`. */
  readonly chunked?: boolean
  readonly status?: number
}

// A media host on loopback: `/<name>` serves the bytes described in `files`, anything else is 404.
const mediaHost = (files: Record<string, Served>) =>
  Effect.gen(function*() {
    const app = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
      const file = files[new URL(request.url, "http://localhost").pathname.slice(1)]
      if (file === undefined) return HttpServerResponse.text("not found", { status: 404 })
      if (file.status !== undefined) return HttpServerResponse.text("nope", { status: file.status })
      const chunk = new Uint8Array(Math.min(file.bytes, MB)).fill(7)
      return file.chunked
        ? HttpServerResponse.stream(
          Stream.range(1, Math.ceil(file.bytes / chunk.length)).pipe(Stream.as(chunk)),
          { contentType: file.type }
        )
        : HttpServerResponse.uint8Array(new Uint8Array(file.bytes).fill(7), { contentType: file.type })
    })
    return yield* Emulator.serve({ app, faults: yield* Faults.make })
  })

const setup = (
  options: {
    readonly token?: string
    readonly emulator?: MultisessionEmulator.Options
    readonly client?: Partial<Multisession.Options>
  } = {}
) =>
  Effect.gen(function*() {
    const emulator = yield* MultisessionEmulator.make({ token, webhookSecret: secret, ...options.emulator })
    const context = yield* Layer.build(
      Multisession.layer({
        baseUrl: `${emulator.url}/`,
        token: Redacted.make(options.token ?? token),
        retry: false,
        ...options.client
      })
    )
    const network = yield* FakeNetwork.FakeNetwork
    return { emulator, network, client: Context.get(context, MessagingService.MessagingService) }
  })

describe("Multisession client", () => {
  for (const [name, http] of Object.entries(httpClients)) {
    it.scopedLive(`sends each kind with the gateway's wire format (${name})`, () =>
      Effect.gen(function*() {
        const { client, emulator, network } = yield* setup()
        const media = yield* mediaHost({
          "photo.jpg": { bytes: 2048, type: "image/jpeg" },
          "clip.mp4": { bytes: 4096, type: "video/mp4" },
          "voice.ogg": { bytes: 1500, type: "audio/ogg" },
          "files/d": { bytes: 3000, type: "application/octet-stream", chunked: true }
        })
        const text = yield* client.send(Message.text(user, "Hi"))
        const reply = yield* client.send(Message.text(user, "Re", { replyTo: text.messageId }))
        yield* client.send(Message.reaction(user, { messageId: text.messageId, emoji: "❤️" }))
        yield* client.send(
          Message.location(user, { latitude: -6.2, longitude: 106.8, name: "Monas", address: "Jakarta" })
        )
        const image = yield* client.send(Message.image(user, { url: `${media.url}/photo.jpg`, caption: "X" }))
        yield* client.send(Message.video(user, { url: `${media.url}/clip.mp4` }))
        yield* client.send(Message.audio(user, { url: `${media.url}/voice.ogg` }))
        const document = yield* client.send(
          Message.document(user, { url: `${media.url}/files/d?sig=1`, filename: "Plan.docx", caption: "Plan" })
        )

        const requests = yield* emulator.requests
        expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([
          `POST /chats/${userJid}/messages`,
          `POST /messages/${text.messageId}/reply`,
          `POST /messages/${text.messageId}/reaction`,
          `POST /chats/${userJid}/locations`,
          `POST /chats/${userJid}/images`,
          `POST /chats/${userJid}/videos`,
          `POST /chats/${userJid}/audio`,
          `POST /chats/${userJid}/documents`
        ])
        for (const request of requests) expect(request.headers.authorization).toBe(`Bearer ${token}`)
        expect(requests.map((r) => r.body)).toEqual([
          { text: "Hi" },
          { chat_jid: userJid, text: "Re" },
          { chat_jid: userJid, emoji: "❤️" },
          { latitude: -6.2, longitude: 106.8, name: "Monas", address: "Jakarta" },
          { caption: "X", file: { filename: "photo.jpg", contentType: "image/jpeg", bytes: 2048 } },
          { file: { filename: "clip.mp4", contentType: "video/mp4", bytes: 4096 } },
          { voice_note: "true", file: { filename: "voice.ogg", contentType: "audio/ogg", bytes: 1500 } },
          {
            filename: "Plan.docx",
            caption: "Plan",
            file: {
              filename: "Plan.docx",
              contentType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
              bytes: 3000
            }
          }
        ])
        for (const request of requests.slice(4)) {
          expect(request.headers["content-type"]).toMatch(/^multipart\/form-data; boundary=/)
        }
        expect(Option.map(yield* network.find(reply.messageId), (m) => m.replyTo)).toEqual(Option.some(text.messageId))
        expect(Option.map(yield* network.find(image.messageId), (m) => m.content)).toEqual(
          Option.some({ kind: "image", bytes: 2048, mimeType: "image/jpeg", caption: "X" })
        )
        expect(Option.map(yield* network.find(document.messageId), (m) => m.content)).toMatchObject(
          Option.some({ kind: "document", bytes: 3000, filename: "Plan.docx", caption: "Plan" })
        )
        // The device token goes to the gateway only, never to the media host.
        const fetched = yield* media.requests
        expect(fetched.map((r) => r.url)).toEqual(["/photo.jpg", "/clip.mp4", "/voice.ogg", "/files/d?sig=1"])
        for (const request of fetched) expect(request.headers.authorization).toBeUndefined()
      }).pipe(Effect.provide(Layer.merge(FakeNetwork.layer({ autoAck: false }), http))))
  }

  it.scopedLive("sends to groups by JID and can turn the gateway's typing simulation off", () =>
    Effect.gen(function*() {
      const { client, emulator, network } = yield* setup({ client: { simulation: false } })
      const media = yield* mediaHost({ "a.mp3": { bytes: 100, type: "audio/mpeg" } })
      const group = ChatId.group("120363025246125486@g.us")
      const receipt = yield* client.send(Message.text(group, "Team update"))
      yield* client.send(Message.audio(user, { url: `${media.url}/a.mp3` }))
      const [text, audio] = yield* emulator.requests
      expect(text!.url).toBe("/chats/120363025246125486@g.us/messages")
      expect(text!.body).toEqual({ text: "Team update", typing_simulation: false, presence_simulation: false })
      expect(audio!.body).toEqual({
        voice_note: "false",
        typing_simulation: "false",
        presence_simulation: "false",
        file: { filename: "a.mp3", contentType: "audio/mpeg", bytes: 100 }
      })
      expect(Option.map(yield* network.find(receipt.messageId), (m) => m.chat.kind)).toEqual(Option.some("group"))
    }).pipe(Effect.provide(Env)))

  it.scopedLive("reads both the documented and the actual success answer", () =>
    Effect.gen(function*() {
      for (const variant of ["documented", "code"] as const) {
        const { client, network } = yield* setup({ emulator: { variant } })
        const receipt = yield* client.send(Message.text(user, variant))
        expect(receipt).toMatchObject({ provider: "multisession", status: "sent" })
        expect(Option.isSome(yield* network.find(receipt.messageId))).toBe(true)
      }
    }).pipe(Effect.provide(Env)))

  it.scopedLive("maps the gateway's error bodies, reading error || message", () =>
    Effect.gen(function*() {
      const { client, emulator, network } = yield* setup()
      const send = Effect.flip(client.send(Message.text(user, "hi")))
      const gateway = (status: number, error: string, message = error) =>
        emulator.faults.next(1, Faults.respond(status, { status: false, code: status, message, error }))

      for (
        const reason of [
          "Missing Authorization header",
          "Invalid Authorization header format. Use: Bearer <token>",
          "Invalid or expired token",
          "Device not found",
          "Token has been revoked. Please regenerate your token"
        ]
      ) {
        yield* gateway(401, reason, "Unauthorized")
        expect(yield* send).toMatchObject({ _tag: "Unauthorized", status: 401, reason })
      }

      yield* gateway(400, "text is required", "Bad request")
      expect(yield* send).toMatchObject({
        _tag: "InvalidMessage",
        field: "body",
        status: 400,
        reason: "rejected (400): text is required"
      })

      // The token endpoint's limiter shape (sends themselves are throttled by waiting, not by 429).
      yield* gateway(429, "Too many requests")
      expect(yield* send).toMatchObject({ _tag: "RateLimited", status: 429, reason: "Too many requests" })

      yield* gateway(500, "image exceeds maximum allowed size (20.0MB > 16.0MB)")
      expect(yield* send).toMatchObject({ _tag: "InvalidMessage", status: 500 })

      yield* emulator.setLoggedIn(false)
      expect(yield* send).toMatchObject({
        _tag: "ProviderUnavailable",
        status: 500,
        reason: "WhatsApp Client is not Logged In"
      })
      yield* emulator.setLoggedIn(true)

      yield* network.unregister(user)
      expect(yield* send).toMatchObject({
        _tag: "RecipientUnavailable",
        chat: userJid,
        reason: "WhatsApp Personal ID is Not Registered"
      })

      yield* emulator.faults.next(1, Faults.respond(502, "<html>Bad gateway</html>"))
      expect(yield* send).toMatchObject({ _tag: "ProviderUnavailable", status: 502 })

      yield* emulator.faults.next(1, Faults.respond(200, { status: true, code: 200, message: "Success" }))
      expect(yield* send).toMatchObject({ _tag: "DeliveryUnknown" })
    }).pipe(Effect.provide(Env)))

  it.scopedLive("media that cannot be fetched or is over 16 MB fails before any upload", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup()
      const media = yield* mediaHost({
        "busy.jpg": { bytes: 1, type: "image/jpeg", status: 503 },
        "declared.mp4": { bytes: 17 * MB, type: "video/mp4" },
        "streamed.mp4": { bytes: 17 * MB, type: "video/mp4", chunked: true }
      })
      const send = (url: string) => Effect.flip(client.send(Message.video(user, { url })))

      const missing = yield* send(`${media.url}/gone.mp4?token=s3cr3t`)
      expect(missing).toMatchObject({ _tag: "InvalidMessage", field: "url" })
      expect(missing.message).toContain(`${media.url}/gone.mp4`)
      expect(missing.message).toContain("404")
      expect(missing.message).not.toContain("s3cr3t")

      expect(yield* send(`${media.url}/busy.jpg`)).toMatchObject({ _tag: "ProviderUnavailable", status: 503 })

      const declared = yield* send(`${media.url}/declared.mp4`)
      expect(declared).toMatchObject({ _tag: "InvalidMessage", field: "url" })
      expect(declared.message).toContain(`is ${17 * MB} bytes`)

      const streamed = yield* send(`${media.url}/streamed.mp4`)
      expect(streamed).toMatchObject({ _tag: "InvalidMessage", field: "url" })
      expect(streamed.message).toContain(`more than ${16 * MB} bytes`)

      yield* media.down
      const down = yield* send(`${media.url}/declared.mp4`)
      expect(down).toMatchObject({ _tag: "ProviderUnavailable" })
      expect(down.message).toContain("could not be fetched (Transport: ECONNREFUSED)")

      expect(yield* emulator.requests).toEqual([])
    }).pipe(Effect.provide(Env)))

  it.scopedLive("media between the gateway's 8 MB body limit and 16 MB is refused by the gateway (413)", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup()
      const media = yield* mediaHost({ "big.pdf": { bytes: 9 * MB, type: "application/pdf" } })
      const error = yield* Effect.flip(client.send(Message.document(user, { url: `${media.url}/big.pdf` })))
      expect(error).toMatchObject({ _tag: "InvalidMessage", status: 413 })
      expect((yield* emulator.requests).map((r) => r.url)).toEqual([`/chats/${userJid}/documents`])
    }).pipe(Effect.provide(Env)))

  it.effect("layerConfig reads PARLEY_MULTISESSION_* settings", () =>
    Effect.gen(function*() {
      const options = yield* Multisession.config
      expect(options.baseUrl).toBe("http://gateway.internal:7001/api")
      expect(Redacted.value(options.token)).toBe("jwt")
      expect(String(options.token)).not.toContain("jwt")
      expect(options.simulation).toBe(false)
      expect(options.rateLimit).toEqual({ perSecond: 2, burst: 5 })
    }).pipe(
      Effect.withConfigProvider(
        ConfigProvider.fromMap(
          new Map([
            ["PARLEY_MULTISESSION_BASE_URL", "http://gateway.internal:7001/api"],
            ["PARLEY_MULTISESSION_TOKEN", "jwt"],
            ["PARLEY_MULTISESSION_SIMULATION", "false"],
            ["PARLEY_MULTISESSION_RATE_LIMIT", "2"],
            ["PARLEY_MULTISESSION_RATE_LIMIT_BURST", "5"]
          ])
        )
      )
    ))

  it.effect("layerConfig defaults the base URL and names a missing token", () =>
    Effect.gen(function*() {
      const options = yield* Multisession.config.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["PARLEY_MULTISESSION_TOKEN", "jwt"]])))
      )
      expect(options).toMatchObject({ baseUrl: "http://localhost:7001", simulation: undefined, rateLimit: undefined })
      const error = yield* Effect.flip(Multisession.config).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
      )
      expect(String(error)).toContain("PARLEY_MULTISESSION_TOKEN")
    }))
})

const encoder = new TextEncoder()

// A webhook request as the gateway sends it, signed with `key` (headers: which signature headers to set).
const delivery = (
  body: unknown,
  options: { readonly key?: string; readonly headers?: ReadonlyArray<string> } = {}
): Webhook.WebhookRequest => {
  const raw = typeof body === "string" ? body : JSON.stringify(body)
  const signature = Webhook.sign(MultisessionApi.signature(Redacted.make(options.key ?? secret)), raw)
  const headers = options.headers ?? ["x-webhook-signature", "x-hub-signature-256"]
  return {
    headers: Object.fromEntries(headers.map((h) => [h, signature])),
    query: {},
    pathToken: undefined,
    body: encoder.encode(raw)
  }
}

const envelope = (event_type: string, data: unknown) => ({
  event_type,
  device_id: "device-1",
  timestamp: "2025-03-01T10:00:00.123456Z",
  data
})

const handlerFor = (
  emulator: MultisessionEmulator.MultisessionEmulator,
  options: Partial<MultisessionWebhook.Options> = {}
): Effect.Effect<Webhook.WebhookHandler, never, HttpClient.HttpClient> =>
  MultisessionWebhook.make({
    baseUrl: emulator.url,
    token: Redacted.make(emulator.token),
    secret: Redacted.make(secret),
    ...options
  })

describe("Multisession webhooks", () => {
  it.scopedLive("user messages are read back from the gateway; receipts become statuses", () =>
    Effect.gen(function*() {
      const { client, emulator, network } = yield* setup()
      const receiver = yield* WebhookReceiver.make(yield* handlerFor(emulator))
      yield* emulator.setWebhookUrl(receiver.url)
      const next = Queue.take(receiver.events).pipe(Effect.timeout("5 seconds"))
      const writes = (content: FakeNetwork.Content, replyTo?: string) =>
        Effect.zipRight(network.userSends({ from: user, to: emulator.business, content, replyTo }), next)

      const hello = yield* writes({ kind: "text", text: "Hello" })
      expect(hello).toMatchObject({
        _tag: "MessageReceived",
        provider: "multisession",
        eventId: `message.received:${hello._tag === "MessageReceived" ? hello.messageId : ""}`,
        senderName: "User 7890",
        content: new InboundEvent.TextContent({ text: "Hello" })
      })
      if (hello._tag !== "MessageReceived") return
      expect(hello.chat.toString()).toBe("+6281234567890")
      expect(hello.sender.toString()).toBe("+6281234567890")

      expect(
        yield* writes({ kind: "image", url: "https://cdn.example/u.jpg", caption: "look", mimeType: "image/jpeg" })
      ).toMatchObject({
        content: new InboundEvent.MediaContent({
          kind: "image",
          url: "https://cdn.example/u.jpg",
          mimeType: "image/jpeg",
          caption: "look"
        })
      })
      expect(yield* writes({ kind: "location", latitude: 1.5, longitude: 2.5, name: "Here" })).toMatchObject({
        content: new InboundEvent.LocationContent({ latitude: 1.5, longitude: 2.5, name: "Here" })
      })
      expect(yield* writes({ kind: "reaction", messageId: hello.messageId, emoji: "👍" })).toMatchObject({
        content: new InboundEvent.ReactionContent({ messageId: hello.messageId, emoji: "👍" })
      })
      expect(yield* writes({ kind: "text", text: "Yes" }, hello.messageId)).toMatchObject({
        replyTo: hello.messageId,
        content: new InboundEvent.TextContent({ text: "Yes" })
      })

      const receipt = yield* client.send(Message.text(user, "Booked"))
      for (const status of ["delivered", "read", "played"] as const) {
        yield* network.setStatus(receipt.messageId, status)
        expect(yield* next).toMatchObject({
          _tag: "StatusChanged",
          eventId: `message.${status}:${receipt.messageId}`,
          messageId: receipt.messageId,
          status
        })
      }
      // There is no "failed" event: the next delivery is the user's next message.
      yield* network.setStatus(receipt.messageId, "failed", "gone")
      expect(yield* writes({ kind: "text", text: "after" })).toMatchObject({ _tag: "MessageReceived" })
      expect(yield* receiver.rejections).toEqual([])
    }).pipe(Effect.provide(Env)))

  it.scopedLive("deliveries carry both signature headers, the event name and the gateway's User-Agent", () =>
    Effect.gen(function*() {
      const { emulator, network } = yield* setup({ emulator: { deviceId: "device-9" } })
      const received = yield* Queue.unbounded<{ headers: Record<string, string>; body: string }>()
      const sink = yield* Emulator.serve({
        app: Effect.gen(function*() {
          const request = yield* HttpServerRequest.HttpServerRequest
          yield* Queue.offer(received, { headers: request.headers, body: yield* Effect.orDie(request.text) })
          return HttpServerResponse.empty()
        }),
        faults: yield* Faults.make,
        record: false
      })
      yield* emulator.setWebhookUrl(`${sink.url}/hook`)
      const wrote = yield* network.userSends({
        from: user,
        to: emulator.business,
        content: { kind: "text", text: "x" }
      })
      const { body, headers } = yield* Queue.take(received).pipe(Effect.timeout("5 seconds"))
      const signature = Webhook.sign(MultisessionApi.signature(Redacted.make(secret)), body)
      expect(headers).toMatchObject({
        "content-type": "application/json",
        "x-webhook-signature": signature,
        "x-hub-signature-256": signature,
        "x-webhook-event": "message.received",
        "user-agent": "WhatsApp-API-MultiSession/1.0"
      })
      const parsed = JSON.parse(body)
      expect(parsed).toEqual({
        event_type: "message.received",
        device_id: "device-9",
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/),
        data: {
          message_id: wrote.id,
          from: userJid,
          chat: userJid,
          timestamp: Math.floor(wrote.at / 1000),
          is_from_me: false
        }
      })
    }).pipe(Effect.provide(Env)))

  it.scopedLive("verifies either signature header and refuses wrong or missing ones with 401", () =>
    Effect.gen(function*() {
      const { emulator } = yield* setup()
      const handler = yield* handlerFor(emulator)
      const body = envelope("message.read", { message_id: "3EB0AA", chat: userJid, sender: userJid, timestamp: 1 })
      yield* handler.verify(delivery(body))
      yield* handler.verify(delivery(body, { headers: ["x-hub-signature-256"] }))

      const wrong = yield* Effect.flip(handler.verify(delivery(body, { key: "not-the-secret" })))
      expect(wrong).toMatchObject({ _tag: "WebhookError", status: 401 })
      expect(wrong.reason).toContain("X-Webhook-Signature")
      const wrongHub = yield* Effect.flip(
        handler.verify(delivery(body, { key: "not-the-secret", headers: ["x-hub-signature-256"] }))
      )
      expect(wrongHub).toMatchObject({ status: 401, reason: expect.stringContaining("X-Hub-Signature-256") })
      const missing = yield* Effect.flip(handler.verify(delivery(body, { headers: [] })))
      expect(missing).toMatchObject({ status: 401, reason: "missing signature header X-Webhook-Signature" })

      // A refused delivery yields no event through the receiver either.
      const receiver = yield* WebhookReceiver.make(handler)
      const response = yield* Effect.promise(() =>
        fetch(receiver.url, {
          method: "POST",
          headers: { "x-webhook-signature": "sha256=00", "content-type": "application/json" },
          body: JSON.stringify(body)
        })
      )
      expect(response.status).toBe(401)
      expect(yield* receiver.rejections).toHaveLength(1)
      expect(yield* Queue.size(receiver.events)).toBe(0)
    }).pipe(Effect.provide(Env)))

  it.scopedLive("decodes receipts, ignores our own echoes and other events, and names malformed input", () =>
    Effect.gen(function*() {
      const { emulator } = yield* setup()
      const handler = yield* handlerFor(emulator)
      const decode = (body: unknown) => handler.decode(delivery(body))

      const [played] = yield* decode(envelope("message.played", { message_id: "3EB0AB", chat: userJid, timestamp: 10 }))
      expect(played).toEqual(
        new InboundEvent.StatusChanged({
          provider: "multisession",
          eventId: "message.played:3EB0AB",
          messageId: "3EB0AB",
          chat: user,
          status: "played",
          at: new Date(10_000)
        })
      )
      const [read] = yield* decode(envelope("message.read", { message_id: "3EB0AC", chat: userJid }))
      expect(read).toMatchObject({ status: "read", at: new Date("2025-03-01T10:00:00.123Z") })

      expect(
        yield* decode(
          envelope("message.received", {
            message_id: "3EB0AD",
            from: userJid,
            chat: userJid,
            timestamp: 1,
            is_from_me: true
          })
        )
      ).toEqual([])
      expect(yield* decode(envelope("connection.connected", { jid: "6281234567890" }))).toEqual([])
      expect(yield* decode(envelope("media.received", { message_id: "x", chat: userJid, media_type: "image" })))
        .toEqual([])
      expect(yield* emulator.requests).toEqual([])

      const malformed = yield* Effect.flip(handler.decode(delivery("{not json")))
      expect(malformed).toMatchObject({ _tag: "WebhookError", status: 400 })
      expect(malformed.reason).toContain("malformed JSON")

      const noId = yield* Effect.flip(
        decode(envelope("message.received", { from: userJid, chat: userJid, timestamp: 1, is_from_me: false }))
      )
      expect(noId).toMatchObject({ status: 400 })
      expect(noId.reason).toContain("data.message_id")

      const noType = yield* Effect.flip(decode({ device_id: "d", timestamp: "t", data: {} }))
      expect(noType.reason).toContain("event_type")

      const badChat = yield* Effect.flip(
        decode(
          envelope("message.received", { message_id: "m", from: "x@y", chat: "x@y", timestamp: 1, is_from_me: false })
        )
      )
      expect(badChat).toMatchObject({ status: 400, reason: expect.stringContaining("data.chat") })
    }).pipe(Effect.provide(Env)))

  it.scopedLive("a message the history lacks is refused (400); a gateway that is down asks for redelivery (503)", () =>
    Effect.gen(function*() {
      const { emulator } = yield* setup()
      const handler = yield* handlerFor(emulator, { lookupAttempts: 2 })
      const received = delivery(
        envelope("message.received", {
          message_id: "3EB0MISSING",
          from: userJid,
          chat: userJid,
          timestamp: 1,
          is_from_me: false
        })
      )
      const missing = yield* Effect.flip(handler.decode(received))
      expect(missing).toMatchObject({ status: 400 })
      expect(missing.reason).toContain("3EB0MISSING")
      expect(missing.reason).toContain(`GET /chats/${userJid}/messages`)
      const lookups = yield* emulator.requests
      expect(lookups.map((r) => `${r.method} ${r.url}`)).toEqual([
        `GET /chats/${userJid}/messages?limit=50`,
        `GET /chats/${userJid}/messages?limit=50`
      ])
      expect(lookups[0]!.headers.authorization).toBe(`Bearer ${token}`)

      yield* emulator.down
      const down = yield* Effect.flip(handler.decode(received))
      expect(down).toMatchObject({ status: 503, reason: expect.stringContaining("unavailable") })
      expect(down.reason).not.toContain(token)
    }).pipe(Effect.provide(Env)))

  it.effect("config reads the webhook secret and the connection settings", () =>
    Effect.gen(function*() {
      const options = yield* MultisessionWebhook.config
      expect(Redacted.value(options.secret)).toBe("s")
      expect(Redacted.value(options.token)).toBe("jwt")
      expect(options.baseUrl).toBe("http://localhost:7001")
      const error = yield* Effect.flip(MultisessionWebhook.config).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["PARLEY_MULTISESSION_TOKEN", "jwt"]])))
      )
      expect(String(error)).toContain("PARLEY_MULTISESSION_WEBHOOK_SECRET")
    }).pipe(
      Effect.withConfigProvider(
        ConfigProvider.fromMap(
          new Map([["PARLEY_MULTISESSION_WEBHOOK_SECRET", "s"], ["PARLEY_MULTISESSION_TOKEN", "jwt"]])
        )
      )
    ))
})

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly body: unknown
}

const call = (url: string, init: RequestInit = {}): Effect.Effect<Answer> =>
  Effect.promise(() =>
    fetch(url, init).then(async (r) => {
      const text = await r.text()
      let body: unknown = text
      try {
        body = JSON.parse(text)
      } catch {
        // not JSON
      }
      return { status: r.status, headers: r.headers, body }
    })
  )

describe("Multisession emulator", () => {
  it.scopedLive("answers the gateway's 401s", () =>
    Effect.gen(function*() {
      const old = MultisessionEmulator.deviceToken("old")
      for (const variant of ["documented", "code"] as const) {
        const { emulator } = yield* setup({ emulator: { variant, revokedTokens: [old] } })
        const post = (authorization?: string) =>
          call(`${emulator.url}/chats/${userJid}/messages`, {
            method: "POST",
            headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
            body: JSON.stringify({ text: "hi" })
          })
        const expected = (error: string) => ({
          status: 401,
          body: { status: false, code: 401, message: variant === "documented" ? "Unauthorized" : error, error }
        })
        expect(yield* post()).toMatchObject(expected("Missing Authorization header"))
        expect(yield* post(token)).toMatchObject(expected("Invalid Authorization header format. Use: Bearer <token>"))
        expect(yield* post("Bearer nope")).toMatchObject(expected("Invalid or expired token"))
        expect(yield* post(`Bearer ${old}`)).toMatchObject(
          expected("Token has been revoked. Please regenerate your token")
        )
        expect((yield* post(`bearer ${token}`)).status).toBe(200)
      }
    }).pipe(Effect.provide(Env)))

  it.scopedLive("validates bodies and answers in the documented or the code's wording", () =>
    Effect.gen(function*() {
      for (const variant of ["documented", "code"] as const) {
        const { emulator } = yield* setup({ emulator: { variant } })
        const post = (path: string, body: string) =>
          call(`${emulator.url}${path}`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body
          })
        const failure = (status: number, error: string, generic: string) => ({
          status,
          body: { status: false, code: status, message: variant === "documented" ? generic : error, error }
        })
        const text = `/chats/${userJid}/messages`
        expect(yield* post(text, JSON.stringify({ text: "  " }))).toMatchObject(
          failure(400, variant === "documented" ? "Text field is required" : "text is required", "Bad request")
        )
        expect(yield* post(text, "{not json")).toMatchObject(failure(400, "Failed parse body request", "Bad request"))
        expect(yield* post(text, JSON.stringify({ text: 5 }))).toMatchObject(
          failure(400, "Failed parse body request", "Bad request")
        )
        expect(yield* post(`/chats/${userJid}/locations`, JSON.stringify({ name: "nowhere" }))).toMatchObject(
          failure(400, "latitude and longitude are required", "Bad request")
        )
        expect(yield* post("/messages/3EB0X/reaction", JSON.stringify({ emoji: "👍" }))).toMatchObject(
          failure(400, "chat_jid is required", "Bad request")
        )
        expect(yield* post(`/chats/${userJid}/images`, JSON.stringify({ caption: "no file" }))).toMatchObject(
          failure(400, "file is required", "Bad request")
        )
        const ok = yield* post(text, JSON.stringify({ text: "hi" }))
        expect(ok.status).toBe(200)
        expect(ok.headers.get("x-request-id")).toBeTruthy()
        expect(ok.body).toEqual(
          variant === "documented"
            ? {
              status: true,
              code: 200,
              message: "Message sent successfully",
              data: {
                message_id: expect.stringMatching(/^3EB0[0-9A-F]{18}$/),
                status: "sent",
                timestamp: expect.any(Number)
              }
            }
            : { status: true, code: 200, message: "Success send message", data: { message_id: expect.any(String) } }
        )
        expect((yield* post("/nowhere", "{}")).status).toBe(404)
      }
    }).pipe(Effect.provide(Env)))

  it.scopedLive("parses multipart uploads and enforces the body limit with 413", () =>
    Effect.gen(function*() {
      const { emulator, network } = yield* setup({ emulator: { bodyLimit: 4096 } })
      const upload = (bytes: number, fields: Record<string, string> = {}) => {
        const form = new FormData()
        for (const [key, value] of Object.entries(fields)) form.append(key, value)
        form.append("file", new Blob([new Uint8Array(bytes)], { type: "application/pdf" }), "r.pdf")
        return call(`${emulator.url}/chats/${userJid}/documents`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}` },
          body: form
        })
      }
      const ok = yield* upload(1000, { caption: "Report" })
      expect(ok.status).toBe(200)
      const id = (ok.body as { data: { message_id: string } }).data.message_id
      expect(Option.map(yield* network.find(id), (m) => m.content)).toEqual(
        Option.some({
          kind: "document",
          bytes: 1000,
          mimeType: "application/pdf",
          caption: "Report",
          filename: "r.pdf"
        })
      )
      expect(yield* upload(5000)).toMatchObject({ status: 413, body: "Request Entity Too Large" })
      const recorded = yield* emulator.requests
      expect(recorded.map((r) => r.body)).toEqual([
        { caption: "Report", file: { filename: "r.pdf", contentType: "application/pdf", bytes: 1000 } },
        { file: { filename: "r.pdf", contentType: "application/pdf", bytes: 5000 } }
      ])
    }).pipe(Effect.provide(Env)))

  it.scopedLive("serves a chat's history with content, newest last, limited", () =>
    Effect.gen(function*() {
      const { client, emulator, network } = yield* setup()
      const asked = yield* client.send(Message.text(user, "Your name?"))
      const answer = yield* network.userSends({
        from: user,
        to: emulator.business,
        content: { kind: "text", text: "Ada" },
        replyTo: asked.messageId
      })
      yield* network.userSends({
        from: ChatId.phone("+6289999999999"),
        to: emulator.business,
        content: { kind: "text", text: "other chat" }
      })
      const history = (query: string) =>
        call(`${emulator.url}/chats/${userJid}/messages${query}`, { headers: { authorization: `Bearer ${token}` } })
      const all = yield* history("")
      expect(all.body).toMatchObject({
        status: true,
        message: "Success get chat messages",
        data: {
          chat_jid: userJid,
          limit: 50,
          messages: [
            {
              message_id: asked.messageId,
              is_from_me: true,
              type: "text",
              text: "Your name?",
              from: "15550000001@s.whatsapp.net"
            },
            {
              message_id: answer.id,
              is_from_me: false,
              type: "text",
              text: "Ada",
              from: userJid,
              chat: userJid,
              quoted_message_id: asked.messageId
            }
          ]
        }
      })
      const last = yield* history("?limit=1")
      expect(
        (last.body as { data: { messages: Array<{ message_id: string }> } }).data.messages.map((m) => m.message_id)
      )
        .toEqual([answer.id])
    }).pipe(Effect.provide(Env)))
})
