import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { ChatSend, ChatSendWebhook } from "@parley/chatsend"
import * as ChatSendEmulator from "@parley/chatsend/emulator"
import { ChatId, InboundEvent, Message, MessagingService } from "@parley/core"
import type { Waha } from "@parley/core/provider"
import { FakeNetwork, Faults, WebhookReceiver } from "@parley/testing"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"

const user = ChatId.phone("+31612345678")
const apiKey = "cs_live_5f2b9c1e7d4a4e0f9b3c8a6d2e1f0a9b"

const Env = Layer.merge(FakeNetwork.layer({ autoAck: false }), NodeHttpClient.layerUndici)

const setup = (options: { readonly key?: string; readonly engine?: Waha.Engine } = {}) =>
  Effect.gen(function*() {
    const emulator = yield* ChatSendEmulator.make({ apiKey, session: "clinic", engine: options.engine })
    const context = yield* Layer.build(
      ChatSend.layer({
        baseUrl: `${emulator.url}/`,
        apiKey: Redacted.make(options.key ?? apiKey),
        session: "clinic",
        retry: false
      })
    )
    const network = yield* FakeNetwork.FakeNetwork
    return { emulator, network, client: Context.get(context, MessagingService.MessagingService) }
  })

describe("ChatSend client", () => {
  it.live("uses each documented endpoint with Bearer auth and the session", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup()
      const text = yield* client.send(Message.text(user, "Hi"))
      yield* client.send(Message.text(user, "Re", { replyTo: text.messageId }))
      yield* client.send(
        Message.image(user, { url: "https://cdn.example/x.png", caption: "X", replyTo: text.messageId })
      )
      yield* client.send(Message.video(user, { url: "https://cdn.example/x.mp4", caption: "V" }))
      yield* client.send(Message.audio(user, { url: "https://cdn.example/x.ogg" }))
      yield* client.send(Message.document(user, { url: "https://cdn.example/report.pdf" }))
      yield* client.send(
        Message.document(user, { url: "https://cdn.example/d?id=1", filename: "Plan.docx", caption: "Plan" })
      )
      yield* client.send(Message.reaction(user, { messageId: text.messageId, emoji: "❤️" }))
      const requests = yield* emulator.requests
      expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([
        "POST /sendText",
        "POST /sendText",
        "POST /sendImage",
        "POST /sendVideo",
        "POST /sendVoice",
        "POST /sendFile",
        "POST /send",
        "PUT /reaction"
      ])
      for (const request of requests) expect(request.headers.authorization).toBe(`Bearer ${apiKey}`)
      expect(requests[1]!.body).toEqual({ session: "clinic", to: "+31612345678", text: "Re", replyTo: text.messageId })
      expect(requests[5]!.body).toEqual({
        session: "clinic",
        to: "+31612345678",
        url: "https://cdn.example/report.pdf",
        fileName: "report.pdf",
        mimeType: "application/pdf"
      })
      expect(requests[6]!.body).toEqual({
        session: "clinic",
        to: "+31612345678",
        documentUrl: "https://cdn.example/d?id=1",
        filename: "Plan.docx",
        mimetype: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        text: "Plan"
      })
      expect(requests[7]!.body).toEqual({ session: "clinic", messageId: text.messageId, reaction: "❤️" })
    }).pipe(Effect.provide(Env)))

  it.live("sends to groups by JID", () =>
    Effect.gen(function*() {
      const { client, emulator, network } = yield* setup()
      const group = ChatId.group("120363025246125486@g.us")
      const receipt = yield* client.send(Message.text(group, "Team update"))
      expect((yield* emulator.requests)[0]!.body).toMatchObject({ to: "120363025246125486@g.us" })
      expect(Option.map(yield* network.find(receipt.messageId), (m) => m.chat.kind)).toEqual(Option.some("group"))
    }).pipe(Effect.provide(Env)))

  it.live("maps ChatSend's error bodies", () =>
    Effect.gen(function*() {
      const { client, emulator, network } = yield* setup()
      const send = Effect.flip(client.send(Message.text(user, "hi")))

      yield* emulator.faults.next(1, Faults.respond(404, { message: "Session \"clinic\" not found" }))
      expect(yield* send).toMatchObject({ _tag: "ProviderUnavailable", status: 404 })

      yield* emulator.faults.next(1, Faults.respond(409, { message: "Session is not connected (STOPPED)" }))
      expect(yield* send).toMatchObject({ _tag: "ProviderUnavailable", status: 409 })

      yield* emulator.faults.next(1, Faults.respond(403, { message: "Plan limit reached" }))
      expect(yield* send).toMatchObject({ _tag: "Unauthorized", status: 403, reason: "Plan limit reached" })

      yield* emulator.faults.next(1, Faults.respond(400, { message: "to: invalid number" }))
      expect(yield* send).toMatchObject({ _tag: "InvalidMessage", field: "body", status: 400 })

      yield* emulator.faults.next(1, Faults.respond(502, "<html>Bad gateway</html>"))
      expect(yield* send).toMatchObject({ _tag: "ProviderUnavailable", status: 502 })

      yield* network.unregister(user)
      expect(yield* send).toMatchObject({ _tag: "RecipientUnavailable", chat: "+31612345678" })
    }).pipe(Effect.provide(Env)))

  it.live("a 2xx it cannot read is DeliveryUnknown: the message may be out", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup()
      yield* emulator.faults.next(1, Faults.respond(200, { ok: true }))
      expect(yield* Effect.flip(client.send(Message.text(user, "hi")))).toMatchObject({ _tag: "DeliveryUnknown" })
    }).pipe(Effect.provide(Env)))

  it.effect("layerConfig reads PARLEY_CHATSEND_* settings", () =>
    Effect.gen(function*() {
      const options = yield* ChatSend.config
      expect(options.baseUrl).toBe("https://api.wasend.dev")
      expect(Redacted.value(options.apiKey)).toBe("k")
      expect(options.session).toBe("main")
      expect(options.rateLimit).toEqual({ perSecond: 5, burst: undefined })
      expect(String(options.apiKey)).not.toContain("k")
    }).pipe(
      Effect.provideService(
        ConfigProvider.ConfigProvider,
        ConfigProvider.fromEnv({
          env: {
            PARLEY_CHATSEND_BASE_URL: "https://api.wasend.dev",
            PARLEY_CHATSEND_API_KEY: "k",
            PARLEY_CHATSEND_SESSION: "main",
            PARLEY_CHATSEND_RATE_LIMIT: "5"
          }
        })
      )
    ))

  it.effect("layerConfig names a missing setting", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ChatSend.config)
      expect(String(error)).toContain("PARLEY_CHATSEND_BASE_URL")
    }).pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: {} }))))
})

describe("ChatSend emulator", () => {
  it.live("enforces auth, session and the documented limits", () =>
    Effect.gen(function*() {
      const { emulator } = yield* setup()
      const post = (path: string, body: unknown, key = apiKey) =>
        Effect.promise(() =>
          fetch(`${emulator.url}${path}`, {
            method: "POST",
            headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
            body: typeof body === "string" ? body : JSON.stringify(body)
          }).then(async (r) => ({ status: r.status, body: await r.json() as Record<string, unknown> }))
        )
      expect(yield* post("/sendText", { session: "clinic", to: "+31612345678", text: "hi" }, "nope")).toEqual({
        status: 401,
        body: { message: "Invalid API key" }
      })
      expect(yield* post("/sendText", { session: "other", to: "+31612345678", text: "hi" })).toMatchObject({
        status: 404
      })
      expect(yield* post("/sendText", { session: "clinic", to: "+31612345678", text: "x".repeat(4097) })).toMatchObject(
        {
          status: 400,
          body: { message: "text exceeds 4096 characters" }
        }
      )
      expect(yield* post("/sendText", { session: "clinic", text: "hi" })).toMatchObject({
        status: 400,
        body: { message: "to: is missing" }
      })
      expect(yield* post("/sendImage", { session: "clinic", to: "+31612345678" })).toMatchObject({ status: 400 })
      expect(yield* post("/sendImage", { session: "clinic", to: "+31612345678", data: "A".repeat(23 * 1024 * 1024) }))
        .toMatchObject({ status: 413 })
      expect(yield* post("/sendText", "{not json")).toMatchObject({
        status: 400,
        body: { message: "malformed JSON body" }
      })
      const ok = yield* post("/sendText", { session: "clinic", to: "+31612345678", text: "hi" })
      expect(ok.status).toBe(200)
      expect(ok.body).toMatchObject({ type: "text", status: "sent", fromMe: true, to: "+31612345678" })
      expect(typeof ok.body.id).toBe("string")
      expect(typeof ok.body.timestamp).toBe("string")
    }).pipe(Effect.provide(Env)))
})

describe("ChatSend webhooks from each WAHA engine", () => {
  const group = ChatId.group("120363025246125486@g.us")

  // The emulator's webhooks, through ChatSend's handler.
  const inbound = (engine: Waha.Engine) =>
    Effect.gen(function*() {
      const fixture = yield* setup({ engine })
      const receiver = yield* WebhookReceiver.make(ChatSendWebhook.make({ token: Redacted.make("hook-token") }))
      yield* fixture.emulator.setWebhookUrl(`${receiver.url}/hook-token`)
      const next = Queue.take(receiver.events).pipe(Effect.timeout("5 seconds"))
      return { ...fixture, receiver, next }
    })

  for (const engine of ["NOWEB", "GOWS", "WEBJS"] as const) {
    it.live(`${engine}: messages, replies to our messages, group authors, locations and acks keep what they say (issue 14, points 6 and 7)`, () =>
      Effect.gen(function*() {
        const { client, emulator, network, next, receiver } = yield* inbound(engine)
        // NOWEB's plain messages carry `replyTo: { body: null }`.
        yield* network.userSends({ from: user, to: emulator.business, content: { kind: "text", text: "hi" } })
        expect(yield* next).toMatchObject({ content: new InboundEvent.TextContent({ text: "hi" }), replyTo: undefined })

        const receipt = yield* client.send(Message.text(user, "Which day?"))
        yield* network.userSends({
          from: user,
          to: emulator.business,
          content: { kind: "text", text: "Friday" },
          replyTo: receipt.messageId
        })
        expect(yield* next).toMatchObject({ replyTo: receipt.messageId })

        // In a group: the author, whichever field the engine puts it in; a reaction belongs to the group.
        const inGroup = yield* network.userSends({
          from: group,
          author: user,
          to: emulator.business,
          content: { kind: "text", text: "Me too" }
        })
        yield* network.userSends({
          from: group,
          author: user,
          to: emulator.business,
          content: { kind: "reaction", messageId: inGroup.id, emoji: "👍" }
        })
        for (const kind of ["Text", "Reaction"]) {
          const grouped = yield* next
          expect(
            grouped._tag === "MessageReceived" &&
              [grouped.content._tag, grouped.chat.toString(), grouped.sender.toString()]
          )
            .toEqual([kind, group.toString(), user.toString()])
        }

        yield* network.userSends({
          from: user,
          to: emulator.business,
          content: { kind: "location", latitude: 52.37, longitude: 4.89, name: "Dam" }
        })
        expect(yield* next).toMatchObject({
          content: new InboundEvent.LocationContent({ latitude: 52.37, longitude: 4.89, name: "Dam" })
        })

        yield* network.setStatus(receipt.messageId, "read")
        const read = yield* next
        expect(read._tag === "StatusChanged" && [read.messageId, read.status, read.chat?.toString()]).toEqual([
          receipt.messageId,
          "read",
          user.toString()
        ])
        expect(yield* receiver.rejections).toEqual([])
      }).pipe(Effect.provide(Env)))
  }
})
