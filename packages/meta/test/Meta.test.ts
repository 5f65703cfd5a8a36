import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import {
  Capabilities,
  ChatId,
  Failover,
  InboundEvent,
  Message,
  type MessagingError,
  MessagingService
} from "@parley/core"
import { Meta, MetaWebhook } from "@parley/meta"
import * as MetaEmulator from "@parley/meta/emulator"
import { Emulator, FakeNetwork, Faults, WebhookReceiver } from "@parley/testing"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Fixtures from "./fixtures/deliveries.js"

const user = ChatId.phone("+31612345678")
const token = "EAAG-test-token-5b7d1c"
const phoneNumberId = "106540352242922"

const Env = Layer.merge(FakeNetwork.layer({ autoAck: false }), NodeHttpClient.layerUndici)

const setup = (options: { readonly emulator?: MetaEmulator.Options; readonly client?: Partial<Meta.Options> } = {}) =>
  Effect.gen(function*() {
    const emulator = yield* MetaEmulator.make({ accessToken: token, ...options.emulator })
    const context = yield* Layer.build(
      Meta.layer({
        baseUrl: emulator.url,
        phoneNumberId,
        accessToken: Redacted.make(token),
        retry: false,
        ...options.client
      })
    )
    const network = yield* FakeNetwork.FakeNetwork
    return { emulator, network, client: Context.get(context, MessagingService.MessagingService) }
  })

// Media served on loopback, for uploads.
const mediaHost = Emulator.serve({
  app: Effect.map(
    HttpServerRequest.HttpServerRequest,
    (request) =>
      HttpServerResponse.uint8Array(new Uint8Array(request.url.includes("big") ? 6 * 1024 * 1024 : 1000).fill(1), {
        contentType: "image/jpeg"
      })
  ),
  faults: Effect.runSync(Faults.make)
})

describe("Meta client", () => {
  it.live("sends each kind as the Cloud API's message body, with the bearer token", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup()
      const first = yield* client.send(Message.text(user, "See https://example.com", { linkPreview: true }))
      yield* client.send(
        Message.image(user, { url: "https://cdn.example/x.jpg", caption: "X", replyTo: first.messageId })
      )
      yield* client.send(Message.document(user, { url: "https://cdn.example/d?id=1", filename: "Plan.pdf" }))
      yield* client.send(Message.sticker(user, { url: "https://cdn.example/s.webp" }))
      yield* client.send(Message.location(user, { latitude: 52.37, longitude: 4.89, name: "Dam" }))
      yield* client.send(Message.reaction(user, { messageId: first.messageId, emoji: "👍" }))
      yield* client.send(
        Message.template(user, {
          name: "reminder",
          language: "nl",
          variables: ["Ada"],
          headerMedia: { kind: "image", url: "https://cdn.example/h.png" }
        })
      )
      const requests = yield* emulator.requests
      expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual(
        Array(7).fill(`POST /v23.0/${phoneNumberId}/messages`)
      )
      for (const request of requests) expect(request.headers.authorization).toBe(`Bearer ${token}`)
      const head = { messaging_product: "whatsapp", recipient_type: "individual", to: "31612345678" }
      expect(requests.map((r) => r.body)).toEqual([
        { ...head, type: "text", text: { body: "See https://example.com", preview_url: true } },
        {
          ...head,
          context: { message_id: first.messageId },
          type: "image",
          image: { link: "https://cdn.example/x.jpg", caption: "X" }
        },
        { ...head, type: "document", document: { link: "https://cdn.example/d?id=1", filename: "Plan.pdf" } },
        { ...head, type: "sticker", sticker: { link: "https://cdn.example/s.webp" } },
        { ...head, type: "location", location: { latitude: 52.37, longitude: 4.89, name: "Dam" } },
        { ...head, type: "reaction", reaction: { message_id: first.messageId, emoji: "👍" } },
        {
          ...head,
          type: "template",
          template: {
            name: "reminder",
            language: { code: "nl" },
            components: [
              { type: "header", parameters: [{ type: "image", image: { link: "https://cdn.example/h.png" } }] },
              { type: "body", parameters: [{ type: "text", text: "Ada" }] }
            ]
          }
        }
      ])
      expect(first.status).toBe("accepted")
      expect(first.messageId).toMatch(/^wamid\./)
    }).pipe(Effect.provide(Env)))

  it.live("a choice is reply buttons up to 3 options, a list up to 10, else numbered text", () =>
    Effect.gen(function*() {
      const { client, emulator, network } = yield* setup()
      const times = ["09:00", "11:00", "15:00"] as const
      const buttons = yield* client.send(Message.buttons(user, { body: "Pick a time", options: times }))
      const days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat"] as const
      yield* client.send(Message.buttons(user, { body: "Which day?", options: days }))
      const long = ["A very long option that no button can hold", "Short"] as const
      const text = yield* client.send(Message.buttons(user, { body: "Pick", options: long }))
      const [first, second, third] = (yield* emulator.requests).map((r) => r.body)
      expect(first).toMatchObject({
        type: "interactive",
        interactive: {
          type: "button",
          body: { text: "Pick a time" },
          action: { buttons: times.map((title, i) => ({ type: "reply", reply: { id: String(i + 1), title } })) }
        }
      })
      expect(second).toMatchObject({
        type: "interactive",
        interactive: {
          type: "list",
          action: { button: "Options", sections: [{ rows: days.map((title, i) => ({ id: String(i + 1), title })) }] }
        }
      })
      expect(third).toMatchObject({ type: "text", text: { body: Message.choiceText("Pick", long) } })
      expect(Option.map(yield* network.find(buttons.messageId), (m) => m.content)).toEqual(
        Option.some({ kind: "buttons", text: "Pick a time", options: times })
      )
      expect(Option.map(yield* network.find(text.messageId), (m) => m.content.kind)).toEqual(Option.some("text"))
    }).pipe(Effect.provide(Env)))

  it.live("uploadMedia fetches the media, uploads it to /media and sends it by id", () =>
    Effect.gen(function*() {
      const media = yield* mediaHost
      const { client, emulator, network } = yield* setup({ client: { uploadMedia: true } })
      const receipt = yield* client.send(Message.image(user, { url: `${media.url}/photo.jpg`, caption: "Hi" }))
      const [upload, send] = yield* emulator.requests
      expect(upload).toMatchObject({
        method: "POST",
        url: `/v23.0/${phoneNumberId}/media`,
        body: { messaging_product: "whatsapp", type: "image/jpeg", file: { name: "photo.jpg", bytes: 1000 } }
      })
      expect(send!.body).toMatchObject({ type: "image", image: { id: expect.any(String), caption: "Hi" } })
      expect(Option.map(yield* network.find(receipt.messageId), (m) => m.content)).toEqual(
        Option.some({ kind: "image", mimeType: "image/jpeg", bytes: 1000, caption: "Hi" })
      )
      // Over Meta's 5 MB for images, or of a type it does not take: another provider may carry it.
      const big = yield* Effect.flip(client.send(Message.image(user, { url: `${media.url}/big.jpg` })))
      expect(big).toMatchObject({ _tag: "Unsupported", feature: expect.stringContaining("image over 5242880 bytes") })
      const gif = yield* Effect.flip(client.send(Message.image(user, { url: `${media.url}/anim.gif` })))
      expect(gif).toMatchObject({ _tag: "Unsupported", feature: "image uploads as image/gif" })
      expect((yield* emulator.requests).length).toBe(2)
    }).pipe(Effect.provide(Env)))

  it.live("classifies Meta's errors by code, whatever the HTTP status", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup()
      const cases: ReadonlyArray<readonly [code: number, status: number, tag: MessagingError.MessagingError["_tag"]]> =
        [
          [130429, 400, "RateLimited"],
          [130429, 429, "RateLimited"],
          [131056, 400, "RateLimited"],
          [80007, 400, "RateLimited"],
          [4, 400, "RateLimited"],
          [131047, 400, "WindowClosed"],
          [131026, 400, "RecipientUnavailable"],
          [190, 401, "Unauthorized"],
          [190, 400, "Unauthorized"],
          [131000, 500, "ProviderUnavailable"],
          [131016, 503, "ProviderUnavailable"],
          [1, 400, "ProviderUnavailable"],
          [2, 503, "ProviderUnavailable"],
          [100, 400, "InvalidMessage"],
          [131009, 400, "InvalidMessage"],
          [131053, 500, "InvalidMessage"],
          [132000, 400, "InvalidMessage"],
          [132001, 404, "InvalidMessage"],
          [132012, 400, "InvalidMessage"],
          [132015, 403, "InvalidMessage"],
          [132016, 403, "InvalidMessage"]
        ]
      for (const [code, status, tag] of cases) {
        yield* emulator.faults.next(1, MetaEmulator.errorFault(code, `error ${code}`, status))
        const error = yield* Effect.flip(client.send(Message.text(user, "hi")))
        expect([code, status, error._tag]).toEqual([code, status, tag])
        expect(error.provider).toBe("meta")
      }
      yield* emulator.faults.next(1, MetaEmulator.errorFault(131047, "Re-engagement message"))
      expect(yield* Effect.flip(client.send(Message.text(user, "hi")))).toMatchObject({
        _tag: "WindowClosed",
        chat: "31612345678",
        reason: "Re-engagement message (code 131047)"
      })
    }).pipe(Effect.provide(Env)))

  it.live("the emulator checks auth, the number, the body, templates and the window", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup({ emulator: { templates: { reminder: 1 }, window: "sync" } })
      const wrongKey = yield* Effect.flip(
        Effect.flatMap(
          Layer.build(Meta.layer({ baseUrl: emulator.url, phoneNumberId, accessToken: Redacted.make("nope") })),
          (c) => Context.get(c, MessagingService.MessagingService).send(Message.template(user, { name: "reminder" }))
        )
      )
      expect(wrongKey).toMatchObject({ _tag: "Unauthorized", status: 401 })
      const wrongNumber = yield* Effect.flip(
        Effect.flatMap(
          Layer.build(Meta.layer({ baseUrl: emulator.url, phoneNumberId: "1", accessToken: Redacted.make(token) })),
          (c) => Context.get(c, MessagingService.MessagingService).send(Message.template(user, { name: "reminder" }))
        )
      )
      // A phone number id the token may not use is the account's misconfiguration, not the message's (issue
      // 24: it used to be InvalidMessage, which never fails over): Meta's 100 with subcode 33.
      expect(wrongNumber).toMatchObject({
        _tag: "Unauthorized",
        status: 400,
        reason: expect.stringContaining(
          "Object with ID '1' does not exist, cannot be loaded due to missing permissions"
        )
      })
      // Outside the 24 h window only a template goes.
      expect(yield* Effect.flip(client.send(Message.text(user, "hi")))).toMatchObject({ _tag: "WindowClosed" })
      expect(yield* Effect.flip(client.send(Message.template(user, { name: "nope" })))).toMatchObject({
        _tag: "InvalidMessage",
        reason: expect.stringContaining("132001")
      })
      expect(yield* Effect.flip(client.send(Message.template(user, { name: "reminder" })))).toMatchObject({
        _tag: "InvalidMessage",
        reason: expect.stringContaining("132000")
      })
      const sent = yield* client.send(Message.template(user, { name: "reminder", variables: ["Ada"] }))
      expect(sent.status).toBe("accepted")
    }).pipe(Effect.provide(Env)))

  it.live("a misconfigured primary (a wrong phone number id, an account blocked for policy) fails over; a bad message does not", () =>
    Effect.gen(function*() {
      const emulator = yield* MetaEmulator.make({ accessToken: token })
      const backupSends: Array<string> = []
      const backup = Layer.effect(
        MessagingService.MessagingService,
        MessagingService.make({
          provider: "backup",
          capabilities: Capabilities.make({ kinds: Message.kinds }),
          send: (message) =>
            Effect.sync(() => {
              backupSends.push(message._tag)
              return { messageId: `backup-${backupSends.length}`, status: "sent" as const }
            })
        }, { retry: false })
      )
      const group = (primaryNumber: string) =>
        Layer.build(Failover.layer([
          Meta.layer({
            baseUrl: emulator.url,
            phoneNumberId: primaryNumber,
            accessToken: Redacted.make(token),
            retry: false
          }),
          backup
        ])).pipe(Effect.map((context) => Context.get(context, MessagingService.MessagingService)))

      // The number id belongs to no one the token may use: every send would fail on the primary.
      const misconfigured = yield* group("109876543210987")
      expect((yield* misconfigured.send(Message.text(user, "hi"))).provider).toBe("backup")

      // 368 comes as 403 from Meta and as 400 from some proxies: both are the account's, not the message's.
      const healthy = yield* group(phoneNumberId)
      for (const status of [403, 400]) {
        yield* emulator.faults.next(
          1,
          MetaEmulator.errorFault(368, "(#368) Temporarily blocked for policies violations", status)
        )
        expect((yield* healthy.send(Message.text(user, "hi"))).provider).toBe("backup")
      }
      expect(backupSends).toEqual(["Text", "Text", "Text"])

      // A message Meta refuses is refused everywhere: no failover.
      yield* emulator.faults.next(1, MetaEmulator.errorFault(131009, "(#131009) Parameter value is not valid"))
      expect(yield* Effect.flip(healthy.send(Message.text(user, "hi")))).toMatchObject({
        _tag: "InvalidMessage",
        provider: "meta"
      })
      expect(backupSends).toHaveLength(3)
    }).pipe(Effect.provide(Env)))

  it.live("markAsRead marks a user's message read; an unknown id is InvalidMessage", () =>
    Effect.gen(function*() {
      const { emulator, network } = yield* setup()
      const wrote = yield* network.userSends({
        from: user,
        to: emulator.business,
        content: { kind: "text", text: "hi" }
      })
      const options = { baseUrl: emulator.url, phoneNumberId, accessToken: Redacted.make(token) }
      yield* Meta.markAsRead(options, wrote.id)
      expect(Option.map(yield* network.find(wrote.id), (m) => m.status)).toEqual(Option.some("read"))
      expect((yield* emulator.requests).at(-1)!.body).toEqual({
        messaging_product: "whatsapp",
        status: "read",
        message_id: wrote.id
      })
      expect(yield* Effect.flip(Meta.markAsRead(options, "wamid.unknown"))).toMatchObject({
        _tag: "InvalidMessage",
        reason: expect.stringContaining("131009")
      })
    }).pipe(Effect.provide(Env)))

  it.live("phoneNumber reads the business number; a token Meta refuses or another number's id fails", () =>
    Effect.gen(function*() {
      const { emulator } = yield* setup()
      const options = { baseUrl: emulator.url, phoneNumberId, accessToken: Redacted.make(token) }
      expect(yield* Meta.phoneNumber(options)).toMatchObject({
        id: phoneNumberId,
        display_phone_number: ChatId.toDigits(emulator.business),
        quality_rating: "GREEN"
      })
      expect((yield* emulator.requests).at(-1)).toMatchObject({ method: "GET", url: `/v23.0/${phoneNumberId}` })
      expect(yield* Effect.flip(Meta.phoneNumber({ ...options, accessToken: Redacted.make("EAAG-wrong") })))
        .toMatchObject({ _tag: "Unauthorized", status: 401 })
      // Another number's id: Meta's 100 with subcode 33, the account's misconfiguration (issue 24: it was
      // InvalidMessage).
      expect(yield* Effect.flip(Meta.phoneNumber({ ...options, phoneNumberId: "999" }))).toMatchObject({
        _tag: "Unauthorized",
        reason: expect.stringContaining("(code 100)")
      })
    }).pipe(Effect.provide(Env)))

  it.effect("layerConfig reads PARLEY_META_* settings", () =>
    Effect.gen(function*() {
      const options = yield* Meta.config
      expect(options).toMatchObject({
        phoneNumberId: "1065",
        baseUrl: "https://graph.facebook.com",
        apiVersion: "v22.0",
        uploadMedia: true,
        templateLanguage: "en_US",
        rateLimit: { perSecond: 80 }
      })
      expect(Redacted.value(options.accessToken)).toBe("EAAG-secret")
      expect(String(options.accessToken)).not.toContain("EAAG")
    }).pipe(
      Effect.provideService(
        ConfigProvider.ConfigProvider,
        ConfigProvider.fromEnv({
          env: {
            PARLEY_META_PHONE_NUMBER_ID: "1065",
            PARLEY_META_ACCESS_TOKEN: "EAAG-secret",
            PARLEY_META_API_VERSION: "v22.0",
            PARLEY_META_UPLOAD_MEDIA: "true",
            PARLEY_META_RATE_LIMIT: "80"
          }
        })
      )
    ))
})

describe("Meta webhooks from the emulator", () => {
  const appSecret = "app-secret-4f2e"

  const inbound = Effect.gen(function*() {
    const { client, emulator, network } = yield* setup({ emulator: { appSecret } })
    const handler = MetaWebhook.make({
      appSecret: Redacted.make(appSecret),
      verifyToken: Redacted.make(emulator.verifyToken),
      media: yield* MetaWebhook.mediaResolver({ baseUrl: emulator.url, accessToken: Redacted.make(token) })
    })
    const receiver = yield* WebhookReceiver.make(handler)
    yield* emulator.setWebhookUrl(receiver.url)
    const next = Queue.take(receiver.events).pipe(Effect.timeout("5 seconds"))
    return { client, emulator, network, receiver, next }
  })

  it.live("users' text, media (id to URL), location, reactions and replies", () =>
    Effect.gen(function*() {
      const { emulator, network, next, receiver } = yield* inbound
      const text = yield* network.userSends({
        from: user,
        to: emulator.business,
        content: { kind: "text", text: "hi" }
      })
      expect(yield* next).toMatchObject({
        _tag: "MessageReceived",
        provider: "meta",
        messageId: text.id,
        senderName: "User 5678",
        content: new InboundEvent.TextContent({ text: "hi" })
      })
      yield* network.userSends({
        from: user,
        to: emulator.business,
        content: { kind: "image", url: "https://cdn.example/u.png", mimeType: "image/png", caption: "mine" },
        replyTo: text.id
      })
      expect(yield* next).toMatchObject({
        content: new InboundEvent.MediaContent({
          kind: "image",
          url: "https://cdn.example/u.png",
          mimeType: "image/png",
          caption: "mine"
        }),
        replyTo: text.id
      })
      yield* network.userSends({
        from: user,
        to: emulator.business,
        content: { kind: "location", latitude: 52.37, longitude: 4.89, name: "Dam" }
      })
      expect((yield* next) as InboundEvent.MessageReceived).toMatchObject({
        content: new InboundEvent.LocationContent({ latitude: 52.37, longitude: 4.89, name: "Dam" })
      })
      yield* network.userSends({
        from: user,
        to: emulator.business,
        content: { kind: "reaction", messageId: text.id, emoji: "" }
      })
      expect(yield* next).toMatchObject({
        content: new InboundEvent.ReactionContent({ messageId: text.id, emoji: "" })
      })
      expect(yield* receiver.rejections).toEqual([])
    }).pipe(Effect.provide(Env)))

  it.live("a tapped button or list row comes back as the option's text, replying to the choice", () =>
    Effect.gen(function*() {
      const { client, emulator, network, next } = yield* inbound
      const buttons = yield* client.send(Message.buttons(user, { body: "Time?", options: ["09:00", "11:00"] }))
      const days = ["Mon", "Tue", "Wed", "Thu"] as const
      const list = yield* client.send(Message.buttons(user, { body: "Day?", options: days }))
      // Statuses of the choices arrive too: the next user message replying to `id`.
      const take = (id: string) =>
        Effect.gen(function*() {
          while (true) {
            const event = yield* next
            if (event._tag === "MessageReceived" && event.replyTo === id) return event
          }
        })
      yield* network.userSends({
        from: user,
        to: emulator.business,
        content: { kind: "text", text: "11:00" },
        replyTo: buttons.messageId
      })
      expect(yield* take(buttons.messageId)).toMatchObject({ content: new InboundEvent.TextContent({ text: "11:00" }) })
      yield* network.userSends({
        from: user,
        to: emulator.business,
        content: { kind: "text", text: "Thu" },
        replyTo: list.messageId
      })
      expect(yield* take(list.messageId)).toMatchObject({ content: new InboundEvent.TextContent({ text: "Thu" }) })
    }).pipe(Effect.provide(Env)))

  it.live("statuses, and failures with Meta's error: undeliverable numbers, the closed window", () =>
    Effect.gen(function*() {
      const { client, network, next } = yield* inbound
      const sent = yield* client.send(Message.text(user, "hello"))
      expect(yield* next).toMatchObject({ _tag: "StatusChanged", messageId: sent.messageId, status: "sent" })
      yield* network.setStatus(sent.messageId, "delivered")
      expect(yield* next).toMatchObject({ _tag: "StatusChanged", status: "delivered", chat: user })
      const stranger = ChatId.phone("+14155550199")
      yield* network.unregister(stranger)
      const lost = yield* client.send(Message.text(stranger, "hello?"))
      expect(yield* next).toMatchObject({
        _tag: "StatusChanged",
        messageId: lost.messageId,
        status: "failed",
        error: "Message undeliverable (131026)"
      })
    }).pipe(Effect.provide(Env)))

  it.live("with the window enforced as Meta reports it, a late free-form message fails by status", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup({ emulator: { appSecret, window: "async" } })
      const receiver = yield* WebhookReceiver.make(
        MetaWebhook.make({ appSecret: Redacted.make(appSecret), verifyToken: Redacted.make("t") })
      )
      yield* emulator.setWebhookUrl(receiver.url)
      const sent = yield* client.send(Message.text(user, "late"))
      expect(sent.status).toBe("accepted")
      expect(yield* Queue.take(receiver.events).pipe(Effect.timeout("5 seconds"))).toMatchObject({
        status: "failed",
        error: "Re-engagement message (131047)"
      })
    }).pipe(Effect.provide(Env)))

  it.live("the emulator sends what Meta sends: BSUIDs, forwarded messages, played voice messages, per-message pricing; a wrong id is Graph's 100/33", () =>
    Effect.gen(function*() {
      const { client, emulator, network } = yield* setup({ emulator: { appSecret } })
      const recorder = yield* Emulator.serve({
        app: Effect.succeed(HttpServerResponse.jsonUnsafe({ ok: true })),
        faults: yield* Faults.make
      })
      yield* emulator.setWebhookUrl(`${recorder.url}/meta`)
      yield* network.userSends({
        from: user,
        to: emulator.business,
        content: { kind: "text", text: "fwd" },
        forwarded: "once"
      })
      yield* network.userSends({
        from: user,
        to: emulator.business,
        content: { kind: "text", text: "fwd many" },
        forwarded: "frequently"
      })
      const voice = yield* client.send(Message.audio(user, { url: "https://cdn.example/note.ogg" }))
      const text = yield* client.send(Message.text(user, "hello"))
      for (const status of ["delivered", "read", "played"] as const) {
        yield* network.setStatus(voice.messageId, status)
        yield* network.setStatus(text.messageId, status)
      }
      // 2 messages, and sent/delivered/read for both plus played for the voice message alone.
      const bodies = yield* recorder.requests.pipe(
        Effect.map((requests) => requests.map((r) => r.body as ReturnType<typeof Fixtures.delivery>)),
        Effect.filterOrFail((bodies) => bodies.length >= 9),
        Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 }),
        Effect.orDie
      )
      expect(bodies).toHaveLength(9)
      const values = bodies.map((b) => b.entry[0]!.changes[0]!.value as Record<string, any>)
      expect(values[0]).toMatchObject({
        contacts: [{
          profile: { name: "User 5678" },
          wa_id: "31612345678",
          user_id: expect.stringMatching(/^NL\.\d{20}$/)
        }],
        messages: [{ context: { forwarded: true }, type: "text", text: { body: "fwd" } }]
      })
      expect(values[0]!.messages[0].context).not.toHaveProperty("id")
      expect(values[1]!.messages[0].context).toEqual({ frequently_forwarded: true })
      const statuses = values.slice(2).map((
        v
      ) => [v.statuses[0].id === voice.messageId ? "voice" : "text", v.statuses[0].status])
      expect(statuses).toEqual([
        ["voice", "sent"],
        ["text", "sent"],
        ["voice", "delivered"],
        ["text", "delivered"],
        ["voice", "read"],
        ["text", "read"],
        ["voice", "played"]
      ])
      expect(values[2]).toMatchObject({
        contacts: [{ wa_id: "31612345678", user_id: values[0]!.contacts[0].user_id }],
        statuses: [{ pricing: { pricing_model: "PMP", category: "service", type: "free_customer_service" } }]
      })
      // And the decoder reads them: forwarded content kept, replying to nothing; played arrives.
      const handler = MetaWebhook.make({ appSecret: Redacted.make(appSecret), verifyToken: Redacted.make("t") })
      const decode = (body: unknown) =>
        handler.decode({
          headers: {},
          query: {},
          pathToken: undefined,
          body: new TextEncoder().encode(JSON.stringify(body))
        })
      const [forwarded] = yield* decode(bodies[0])
      expect(forwarded).toMatchObject({ content: new InboundEvent.TextContent({ text: "fwd" }), replyTo: undefined })
      expect(yield* decode(bodies[8])).toMatchObject([{
        _tag: "StatusChanged",
        messageId: voice.messageId,
        status: "played"
      }])

      // A number id the token may not use, as Graph answers it.
      const wrong = yield* Effect.promise(() =>
        fetch(`${emulator.url}/v23.0/109876543210987/messages`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ messaging_product: "whatsapp", to: "31612345678", type: "text", text: { body: "hi" } })
        }).then(async (r) => ({ status: r.status, body: await r.json() }))
      )
      expect(wrong).toEqual({
        status: 400,
        body: {
          error: {
            message:
              "Unsupported post request. Object with ID '109876543210987' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
            type: "GraphMethodException",
            code: 100,
            error_subcode: 33,
            fbtrace_id: expect.any(String)
          }
        }
      })
      yield* emulator.faults.next(1, MetaEmulator.blockedForPolicy)
      expect(yield* Effect.flip(client.send(Message.text(user, "hi")))).toMatchObject({
        _tag: "Unauthorized",
        status: 403
      })
    }).pipe(Effect.provide(Env)))

  it.live("the GET verification: the right token echoes the challenge, a wrong or missing one is refused", () =>
    Effect.gen(function*() {
      const { emulator, receiver } = yield* inbound
      expect(yield* emulator.verifyWebhook(receiver.url)).toMatchObject({ status: 200, verified: true })
      expect(yield* emulator.verifyWebhook(receiver.url, "wrong-token")).toMatchObject({ status: 403, verified: false })
      const missing = yield* Effect.promise(() => fetch(`${receiver.url}?hub.mode=subscribe`))
      expect(missing.status).toBe(400)
    }).pipe(Effect.provide(Env)))
})
