import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Callbell, CallbellApi, CallbellWebhook } from "@parley/callbell"
import * as CallbellEmulator from "@parley/callbell/emulator"
import { ChatId, InboundEvent, Message, MessagingError, MessagingService, type Webhook } from "@parley/core"
import { FakeNetwork, Faults, WebhookReceiver } from "@parley/testing"
import * as Clock from "effect/Clock"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/testing/TestClock"

const user = ChatId.phone("+31612345678")
const apiKey = "cb_live_7d41c0e9a2b84f5f8e6a1c3b9d0e2f47"
const token = "tok_9f8e7d6c5b4a"
const secret = "whsec_3b1f9c7e5a2d4b6f8e0c1a3d5f7b9e2c"

const Env = Layer.merge(FakeNetwork.layer({ autoAck: false }), NodeHttpClient.layerUndici)

const start = (
  emulatorOptions: CallbellEmulator.Options = {},
  clientOptions: Partial<Callbell.Options> = {}
) =>
  Effect.gen(function*() {
    const emulator = yield* CallbellEmulator.make({ apiKey, ...emulatorOptions })
    const options: Callbell.Options = {
      baseUrl: emulator.url,
      apiKey: Redacted.make(apiKey),
      retry: false,
      ...clientOptions
    }
    const context = yield* Layer.build(Callbell.layer(options))
    const network = yield* FakeNetwork.FakeNetwork
    return { emulator, network, options, client: Context.get(context, MessagingService.MessagingService) }
  })

const sends = (requests: ReadonlyArray<{ readonly url: string; readonly body: unknown }>) =>
  requests.filter((r) => r.url === "/v1/messages/send").map((r) => r.body)

describe("Callbell client", () => {
  it.live("sends every kind through POST /messages/send with the documented body", () =>
    Effect.gen(function*() {
      const { client, emulator, network } = yield* start({}, { channelUuid: "4f1d2c3b5a6e4f708192a3b4c5d6e7f8" })
      const cdn = "https://cdn.example.org/media"
      const receipts = [
        yield* client.send(Message.text(user, "Hi"), { idempotencyKey: "order-42" }),
        yield* client.send(Message.image(user, { url: `${cdn}/cat.png`, caption: "A cat" })),
        yield* client.send(Message.video(user, { url: `${cdn}/clip.mp4`, caption: "Clip" })),
        yield* client.send(Message.audio(user, { url: `${cdn}/note.ogg` })),
        yield* client.send(Message.document(user, { url: `${cdn}/report.pdf`, filename: "Q3.pdf" })),
        yield* client.send(Message.template(user, { name: "d980fb66fd5043d3ace1aa06ba044342", variables: ["Ada"] })),
        yield* client.send(Message.template(user, {
          name: "d980fb66fd5043d3ace1aa06ba044342",
          variables: ["Ada", "Monday", "10:00"],
          headerMedia: { kind: "image", url: `${cdn}/header.jpeg` }
        })),
        yield* client.send(Message.template(user, {
          name: "0c1b2a39d8e7f6a5b4c3d2e1f0a9b8c7",
          headerMedia: { kind: "video", url: `${cdn}/promo.mp4` }
        }))
      ]
      for (const receipt of receipts) {
        expect(receipt).toMatchObject({ provider: "callbell", status: "accepted" })
        expect(receipt.messageId).toMatch(/^[0-9a-f]{32}$/)
      }
      const requests = yield* emulator.requests
      expect(requests.every((r) => r.method === "POST" && r.url === "/v1/messages/send")).toBe(true)
      for (const request of requests) {
        expect(request.headers.authorization).toBe(`Bearer ${apiKey}`)
        expect(request.headers.accept).toBe("application/json")
      }
      const common = { to: "+31612345678", from: "whatsapp", channel_uuid: "4f1d2c3b5a6e4f708192a3b4c5d6e7f8" }
      expect(sends(requests)).toEqual([
        { ...common, type: "text", content: { text: "Hi" }, metadata: { parley_idempotency_key: "order-42" } },
        { ...common, type: "image", content: { url: `${cdn}/cat.png`, text: "A cat" } },
        { ...common, type: "document", content: { url: `${cdn}/clip.mp4`, text: "Clip" } },
        { ...common, type: "document", content: { url: `${cdn}/note.ogg` } },
        { ...common, type: "document", content: { url: `${cdn}/report.pdf` } },
        {
          ...common,
          type: "text",
          content: { text: "Ada" },
          template_uuid: "d980fb66fd5043d3ace1aa06ba044342",
          optin_contact: true
        },
        {
          ...common,
          type: "image",
          content: { text: "Ada", url: `${cdn}/header.jpeg` },
          template_uuid: "d980fb66fd5043d3ace1aa06ba044342",
          optin_contact: true,
          template_values: ["Ada", "Monday", "10:00"]
        },
        {
          ...common,
          type: "video",
          content: { url: `${cdn}/promo.mp4` },
          template_uuid: "0c1b2a39d8e7f6a5b4c3d2e1f0a9b8c7",
          optin_contact: true
        }
      ])
      const kinds = yield* Effect.forEach(receipts, (r) =>
        Effect.map(network.find(r.messageId), Option.map((m) => m.content)))
      expect(kinds.map(Option.map((c) =>
        c.kind
      ))).toEqual(
        ["text", "image", "video", "audio", "document", "template", "template", "template"].map(Option.some)
      )
      expect(kinds[6]).toEqual(
        Option.some({
          kind: "template",
          name: "d980fb66fd5043d3ace1aa06ba044342",
          variables: ["Ada", "Monday", "10:00"]
        })
      )
    }).pipe(Effect.provide(Env)))

  it.live("passes a long idempotency key as its digest, and answers a repeat from the first receipt", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* start()
      const key = "checkout-".repeat(80)
      const first = yield* client.send(Message.text(user, "Paid"), { idempotencyKey: key })
      const again = yield* client.send(Message.text(user, "Paid"), { idempotencyKey: key })
      expect(again.messageId).toBe(first.messageId)
      const bodies = sends(yield* emulator.requests) as ReadonlyArray<{ metadata: Record<string, string> }>
      expect(bodies).toHaveLength(1)
      expect(bodies[0]!.metadata[Callbell.idempotencyKeyField]).toMatch(/^sha256:[0-9a-f]{64}$/)
      expect(bodies[0]).not.toHaveProperty("channel_uuid")
    }).pipe(Effect.provide(Env)))

  it.live("groups and other non-phone chats are Unsupported with no request", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* start()
      const error = yield* Effect.flip(client.send(Message.text(ChatId.group("120363025246125486@g.us"), "Team")))
      expect(error).toMatchObject({ _tag: "Unsupported", provider: "callbell", feature: "group chats" })
      expect(yield* emulator.requests).toEqual([])
    }).pipe(Effect.provide(Env)))

  it.live("status reads GET /messages/status/{uuid} and maps what it reports", () =>
    Effect.gen(function*() {
      const { client, emulator, network, options } = yield* start()
      const { messageId } = yield* client.send(Message.text(user, "Booked"))
      expect(yield* Callbell.status(options, messageId)).toMatchObject({
        messageId,
        status: "sent",
        delivery: "sent",
        error: undefined
      })
      yield* network.setStatus(messageId, "delivered")
      expect((yield* Callbell.status(options, messageId)).delivery).toBe("delivered")
      yield* network.setStatus(messageId, "read")
      const read = yield* Callbell.status(options, messageId)
      expect(read).toMatchObject({ status: "read", delivery: "read" })
      expect(read.whatsappMessageId).toMatch(/^wamid\./)
      const gets = (yield* emulator.requests).filter((r) => r.method === "GET")
      expect(gets.map((r) => r.url)).toEqual(Array(3).fill(`/v1/messages/status/${messageId}`))
      expect(gets[0]!.headers.authorization).toBe(`Bearer ${apiKey}`)

      expect(yield* Effect.flip(Callbell.status(options, "00000000000000000000000000000000"))).toMatchObject({
        _tag: "InvalidMessage",
        status: 404
      })
      yield* emulator.faults.next(1, Faults.serverError(503))
      expect(yield* Effect.flip(Callbell.status(options, messageId))).toMatchObject({
        _tag: "ProviderUnavailable",
        status: 503
      })
    }).pipe(Effect.provide(Env)))

  it.live("maps statuses and (undocumented) error bodies to MessagingErrors", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* start()
      const fail = (status: number, body: unknown, headers?: Record<string, string>) =>
        Effect.andThen(
          emulator.faults.next(1, Faults.respond(status, body, headers)),
          Effect.flip(client.send(Message.text(user, "hi")))
        )
      expect(yield* fail(401, { error: "Unauthorized" })).toMatchObject({ _tag: "Unauthorized", status: 401 })
      expect(yield* fail(403, { error: "Plan does not include the API" })).toMatchObject({
        _tag: "Unauthorized",
        reason: "Plan does not include the API"
      })
      const limited = yield* fail(429, { error: "Too many requests" })
      expect(limited).toMatchObject({ _tag: "RateLimited", status: 429 })
      expect(limited._tag === "RateLimited" && limited.retryAfter).toBe(undefined)
      expect(yield* fail(429, "", { "retry-after": "2" })).toMatchObject({ _tag: "RateLimited" })
      expect(yield* fail(500, { error: "Internal server error" })).toMatchObject({
        _tag: "ProviderUnavailable",
        status: 500
      })
      expect(yield* fail(502, "<html><body>Bad gateway</body></html>")).toMatchObject({
        _tag: "ProviderUnavailable",
        status: 502
      })
      expect(yield* fail(400, { error: "to is invalid" })).toMatchObject({
        _tag: "InvalidMessage",
        field: "body",
        status: 400
      })
      expect(yield* fail(422, { errors: ["Template not found"] })).toMatchObject({
        _tag: "InvalidMessage",
        status: 422
      })
      expect(yield* fail(422, { error: "Outside the 24 hours window: send a template message" })).toMatchObject({
        _tag: "WindowClosed",
        chat: "+31612345678"
      })
      expect(yield* fail(422, { message: "The number does not exist on WhatsApp" })).toMatchObject({
        _tag: "RecipientUnavailable",
        chat: "+31612345678"
      })
      expect(yield* fail(200, { ok: true })).toMatchObject({ _tag: "DeliveryUnknown" })
      expect(yield* fail(200, { message: { status: "enqueued" } })).toMatchObject({ _tag: "DeliveryUnknown" })
    }).pipe(Effect.provide(Env)))

  it.live("a number not on WhatsApp is accepted, then reported failed by webhook and status", () =>
    Effect.gen(function*() {
      const { client, emulator, network, options } = yield* start()
      const receiver = yield* WebhookReceiver.make(CallbellWebhook.make({ token: Redacted.make(token) }))
      yield* emulator.setWebhookUrl(`${receiver.url}/${token}`)
      yield* network.unregister(user)
      const receipt = yield* client.send(Message.text(user, "Anyone there?"))
      expect(receipt.status).toBe("accepted")
      const event = yield* Queue.take(receiver.events).pipe(Effect.timeout("5 seconds"))
      expect(event).toMatchObject({
        _tag: "StatusChanged",
        provider: "callbell",
        messageId: receipt.messageId,
        status: "failed",
        error: "number does not exist on WhatsApp"
      })
      expect(event._tag === "StatusChanged" && event.chat?.toString()).toBe("+31612345678")
      expect(yield* Callbell.status(options, receipt.messageId)).toMatchObject({
        status: "failed",
        delivery: "failed",
        error: "number does not exist on WhatsApp"
      })
    }).pipe(Effect.provide(Env)))
})

describe("Callbell config", () => {
  const settings = (entries: ReadonlyArray<readonly [string, string]>) =>
    Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: Object.fromEntries(entries) }))

  it.effect("reads PARLEY_CALLBELL_* settings, with the public base URL by default", () =>
    Effect.gen(function*() {
      const options = yield* Callbell.config
      expect(options.baseUrl).toBe("https://api.callbell.eu/v1")
      expect(Redacted.value(options.apiKey)).toBe(apiKey)
      expect(String(options.apiKey)).not.toContain(apiKey)
      expect(options.channelUuid).toBe("b3c9")
      expect(options.rateLimit).toEqual({ perSecond: 50, burst: 100 })
      const webhook = yield* CallbellWebhook.config
      expect(webhook.token && Redacted.value(webhook.token)).toBe(token)
      expect(webhook.secret).toBeUndefined()
    }).pipe(settings([
      ["PARLEY_CALLBELL_API_KEY", apiKey],
      ["PARLEY_CALLBELL_CHANNEL_UUID", "b3c9"],
      ["PARLEY_CALLBELL_RATE_LIMIT", "50"],
      ["PARLEY_CALLBELL_RATE_LIMIT_BURST", "100"],
      ["PARLEY_CALLBELL_WEBHOOK_TOKEN", token]
    ])))

  it.effect("a base URL setting overrides the default; no channel means the main channel", () =>
    Effect.gen(function*() {
      const options = yield* Callbell.config
      expect(options.baseUrl).toBe("http://127.0.0.1:9/v1")
      expect(options.channelUuid).toBeUndefined()
      expect(options.rateLimit).toBeUndefined()
    }).pipe(settings([["PARLEY_CALLBELL_API_KEY", "k"], ["PARLEY_CALLBELL_BASE_URL", "http://127.0.0.1:9/v1"]])))

  it.effect("names the missing API key", () =>
    Effect.gen(function*() {
      expect(String(yield* Effect.flip(Callbell.config))).toContain("PARLEY_CALLBELL_API_KEY")
    }).pipe(settings([])))
})

const encoder = new TextEncoder()

const webhookRequest = (
  body: unknown,
  options: { readonly pathToken?: string; readonly headers?: Record<string, string> } = {}
): Webhook.WebhookRequest => ({
  headers: options.headers ?? {},
  query: {},
  pathToken: options.pathToken,
  body: encoder.encode(typeof body === "string" ? body : JSON.stringify(body))
})

const tokenHandler = CallbellWebhook.make({ token: Redacted.make(token) })

// Verification then decoding, as the webhook server does.
const deliver = (
  body: unknown,
  { handler = tokenHandler, pathToken = token }: {
    readonly handler?: Webhook.WebhookHandler
    readonly pathToken?: string | null
  } = {}
) => {
  const request = webhookRequest(body, pathToken === null ? {} : { pathToken })
  return Effect.andThen(handler.verify(request), handler.decode(request))
}

const created = (payload: Record<string, unknown>) => ({
  event: "message_created",
  payload: {
    uuid: "cf839626ac7949879b88bcffd41d34fe",
    to: "15550000001",
    from: "335544332211",
    text: "Hello",
    attachments: [],
    status: "received",
    channel: "whatsapp",
    contact: { uuid: "eb2b914a977e4ab896e7b886698b3eac", name: "John Doe", phoneNumber: "335544332211" },
    createdAt: "2022-10-18T12:06:29.000+02:00",
    ...payload
  }
})

const statusUpdate = (status: string, inner: Record<string, unknown> = { ts: 1686563913 }) => ({
  event: "message_status_updated",
  payload: {
    uuid: "adf3d1216d4c4dcd908199d6700f2381",
    status,
    contact: { uuid: "eb2b914a977e4ab896e7b886698b3eac", phoneNumber: "331122334455" },
    messageStatusPayload: {
      id: "gBGGM2MSRxl_Aglqmg5KQXU7ABC",
      gsId: "2b34bfb7-2631-4763-89fb-1b3c65a4babc",
      type: status,
      payload: inner,
      destination: "1122334455"
    }
  }
})

describe("Callbell webhooks", () => {
  it.effect("a path token: accepted when it matches; wrong, missing or unconfigured is 401 with no events", () =>
    Effect.gen(function*() {
      const body = created({})
      expect(yield* deliver(body)).toHaveLength(1)
      const refusals: ReadonlyArray<readonly [Webhook.WebhookHandler, string | null, string]> = [
        [tokenHandler, "tok_wrong", "does not match"],
        [tokenHandler, null, "missing webhook token"],
        [CallbellWebhook.make({}), token, "no webhook secret or token"]
      ]
      for (const [handler, pathToken, reason] of refusals) {
        const error = yield* Effect.flip(deliver(body, { handler, pathToken }))
        expect(error).toMatchObject({ _tag: "WebhookError", provider: "callbell", status: 401 })
        expect(error.reason).toContain(reason)
      }
    }))

  it.effect("the optional X-Callbell-Signature: checked over t and the raw body, with a 5 minute tolerance", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_790_000_000_000)
      const handler = CallbellWebhook.make({ secret: Redacted.make(secret) })
      const raw = JSON.stringify(created({ text: "Signed ✓" }))
      const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      const signed = (header: string | undefined, body = raw) => {
        const request = webhookRequest(
          body,
          header === undefined ? {} : { headers: { "x-callbell-signature": header } }
        )
        return Effect.andThen(handler.verify(request), handler.decode(request))
      }
      const valid = CallbellApi.sign(Redacted.make(secret), now, raw)
      expect(valid).toMatch(/^t=1790000000,v1=[0-9a-f]{64}$/)
      expect(yield* signed(valid)).toMatchObject([{ content: { text: "Signed ✓" } }])
      const refusals: Array<[string | undefined, string, string?]> = [
        [undefined, "missing signature header"],
        ["v1=abc", "not of the form"],
        [`t=${now},v1=${"0".repeat(64)}`, "does not match"],
        [CallbellApi.sign(Redacted.make("whsec_other"), now, raw), "does not match"],
        [valid, "does not match", raw.replace("Signed", "Forged")],
        [CallbellApi.sign(Redacted.make(secret), now - 301, raw), "from now"],
        [CallbellApi.sign(Redacted.make(secret), now + 301, raw), "from now"]
      ]
      for (const [header, reason, body] of refusals) {
        const error = yield* Effect.flip(signed(header, body))
        expect(error.status).toBe(401)
        expect(error.reason).toContain(reason)
      }
      // Token and secret together: both must hold.
      const both = CallbellWebhook.make({ secret: Redacted.make(secret), token: Redacted.make(token) })
      const request = (pathToken: string) =>
        webhookRequest(raw, { pathToken, headers: { "x-callbell-signature": valid } })
      yield* both.verify(request(token))
      expect((yield* Effect.flip(both.verify(request("nope")))).status).toBe(401)
    }))

  it.effect("only malformed JSON is refused: a verified delivery of an odd shape is kept, made unavailable or skipped", () =>
    Effect.gen(function*() {
      expect(yield* Effect.flip(deliver("{not json"))).toMatchObject({
        status: 400,
        reason: expect.stringContaining("malformed JSON")
      })
      // Nothing to address an event to: no event, and no refusal.
      for (
        const body of [
          [{ event: "message_created" }],
          { event: 42 },
          { event: "message_created", payload: { status: "received", text: "hi" } },
          { event: "message_status_updated", payload: { status: "read" } },
          created({ from: "not a number" })
        ]
      ) {
        expect(yield* deliver(body)).toEqual([])
      }
      // A received message whose content is not what Parley reads: handed on as unavailable.
      const [odd] = yield* deliver(created({ text: 42 }))
      expect(odd).toMatchObject({
        messageId: "cf839626ac7949879b88bcffd41d34fe",
        content: new InboundEvent.UnavailableContent({
          // Effect 4 describes a failed union (`text` is `string | null`) as a whole.
          reason: "unexpected shape at payload.text: Expected string | null, actual 42"
        })
      })
      expect(odd?._tag === "MessageReceived" && odd.chat.toString()).toBe("+335544332211")
      // A contact card: nothing Parley reads, still a message the bot hears of.
      const [card] = yield* deliver(created({ text: null, messageContactCard: { name: "Ada" } }))
      expect(card).toMatchObject({ content: { _tag: "Unavailable" } })
    }))

  it.effect("liveness checks, empty bodies and events Parley does not use decode to no events", () =>
    Effect.gen(function*() {
      for (
        const body of [
          "",
          " \n",
          {},
          { event: "ping" },
          { status: "ok" },
          { event: "contact_created", payload: { uuid: "eb2b914a", name: "John" } },
          { event: "conversation_opened", payload: {} }
        ]
      ) {
        expect(yield* deliver(body)).toEqual([])
      }
    }))

  it.effect("message_created: text with sender and time; our own messages (status sent) are ignored", () =>
    Effect.gen(function*() {
      expect(yield* deliver(created({ status: "sent", from: "15550000001", to: "335544332211" }))).toEqual([])
      const [event] = yield* deliver(created({}))
      expect(event).toBeInstanceOf(InboundEvent.MessageReceived)
      expect(event).toMatchObject({
        provider: "callbell",
        eventId: "message_created:cf839626ac7949879b88bcffd41d34fe",
        messageId: "cf839626ac7949879b88bcffd41d34fe",
        senderName: "John Doe",
        content: new InboundEvent.TextContent({ text: "Hello" }),
        at: new Date("2022-10-18T10:06:29.000Z")
      })
      if (event?._tag === "MessageReceived") {
        expect(event.chat.toString()).toBe("+335544332211")
        expect(event.sender.toString()).toBe("+335544332211")
        expect(event.replyTo).toBeUndefined()
      }
    }))

  it.effect("message_created: attachments by extension, locations and replies (either spelling)", () =>
    Effect.gen(function*() {
      const base = "https://url.com/uploads/conversation_attachment/url/12389"
      const media = yield* deliver(created({
        text: "Look",
        attachments: [
          `${base}/photo.JPG`,
          `${base}/voice.ogg`,
          `${base}/report.pdf`,
          `${base}/clip.mp4`,
          `${base}/s.webp`
        ]
      }))
      expect(media.map((e) => e._tag === "MessageReceived" ? e.content : undefined)).toEqual([
        new InboundEvent.MediaContent({
          kind: "image",
          url: `${base}/photo.JPG`,
          filename: "photo.JPG",
          caption: "Look"
        }),
        new InboundEvent.MediaContent({ kind: "audio", url: `${base}/voice.ogg`, filename: "voice.ogg" }),
        new InboundEvent.MediaContent({ kind: "document", url: `${base}/report.pdf`, filename: "report.pdf" }),
        new InboundEvent.MediaContent({ kind: "video", url: `${base}/clip.mp4`, filename: "clip.mp4" }),
        new InboundEvent.MediaContent({ kind: "sticker", url: `${base}/s.webp`, filename: "s.webp" })
      ])
      expect(new Set(media.map((e) => e.eventId)).size).toBe(5)
      expect(new Set(media.map((e) => e.messageId))).toEqual(new Set(["cf839626ac7949879b88bcffd41d34fe"]))

      const [pin] = yield* deliver(created({
        text: "",
        messageLocation: {
          coordinates: { x: -23.605403621614, y: -46.637346962613 },
          googleMapsLocation: "https://maps.googleapis.com/maps/api/staticmap?zoom=15"
        }
      }))
      expect(pin).toMatchObject({
        content: new InboundEvent.LocationContent({ latitude: -23.605403621614, longitude: -46.637346962613 })
      })

      for (const field of ["messageContext", "mesageContext"]) {
        const [reply] = yield* deliver(created({
          text: "Yes please",
          [field]: { target: { uuid: "a1b2c3d4e5f60718293a4b5c6d7e8f90" }, text: "Shall I book?", status: "sent" }
        }))
        expect(reply).toMatchObject({ replyTo: "a1b2c3d4e5f60718293a4b5c6d7e8f90", content: { text: "Yes please" } })
      }
    }))

  it.effect("message_created without a uuid (as documented) gets a stable id derived from the message", () =>
    Effect.gen(function*() {
      const documented = created({ uuid: undefined })
      const [first] = yield* deliver(documented)
      const [again] = yield* deliver(documented)
      const [other] = yield* deliver(created({ uuid: undefined, text: "Hello again" }))
      expect(first?.messageId).toMatch(/^derived_[0-9a-f]{32}$/)
      expect(again?.messageId).toBe(first?.messageId)
      expect(again?.eventId).toBe(first?.eventId)
      expect(other?.messageId).not.toBe(first?.messageId)
    }))

  it.effect("message_status_updated: sent, delivered, read and failed map; enqueued, mismatch, deleted do not", () =>
    Effect.gen(function*() {
      for (const status of ["sent", "delivered", "read"] as const) {
        const [event] = yield* deliver(statusUpdate(status))
        expect(event).toBeInstanceOf(InboundEvent.StatusChanged)
        expect(event).toMatchObject({
          provider: "callbell",
          eventId: `message_status_updated:adf3d1216d4c4dcd908199d6700f2381:${status}`,
          messageId: "adf3d1216d4c4dcd908199d6700f2381",
          status,
          error: undefined,
          at: new Date(1686563913 * 1000)
        })
        expect(event?._tag === "StatusChanged" && event.chat?.toString()).toBe("+1122334455")
      }
      expect(yield* deliver(statusUpdate("failed", { code: 1002, reason: "Number Does Not Exists On WhatsApp" })))
        .toMatchObject([{ status: "failed", error: "Number Does Not Exists On WhatsApp" }])
      expect(yield* deliver(statusUpdate("failed", { code: 470 }))).toMatchObject([{ error: "failed (code 470)" }])
      for (const status of ["enqueued", "mismatch", "deleted", "something_new"]) {
        expect(yield* deliver(statusUpdate(status))).toEqual([])
      }
    }))
})

describe("Callbell emulator webhooks", () => {
  it.live("post user messages and statuses, signed, that the handler decodes", () =>
    Effect.gen(function*() {
      const { client, emulator, network } = yield* start({ webhookSecret: secret, contextField: "mesageContext" })
      const receiver = yield* WebhookReceiver.make(CallbellWebhook.make({ secret: Redacted.make(secret) }))
      yield* emulator.setWebhookUrl(receiver.url)
      const next = Queue.take(receiver.events).pipe(Effect.timeout("5 seconds"))

      // Our own message comes back as message_created (status sent), which gives no event, then as `sent`.
      const receipt = yield* client.send(Message.text(user, "Pick a slot"), { idempotencyKey: "slot-1" })
      expect(yield* next).toMatchObject({ _tag: "StatusChanged", messageId: receipt.messageId, status: "sent" })
      yield* network.setStatus(receipt.messageId, "delivered")
      expect(yield* next).toMatchObject({ _tag: "StatusChanged", messageId: receipt.messageId, status: "delivered" })

      const photo = yield* network.userSends({
        from: user,
        to: emulator.business,
        content: { kind: "image", url: "https://cdn.example.org/u/slot.jpg", caption: "This one" },
        replyTo: receipt.messageId
      })
      expect(yield* next).toMatchObject({
        _tag: "MessageReceived",
        messageId: photo.id,
        replyTo: receipt.messageId,
        content: new InboundEvent.MediaContent({
          kind: "image",
          url: "https://cdn.example.org/u/slot.jpg",
          filename: "slot.jpg",
          caption: "This one"
        })
      })
      yield* network.userSends({
        from: user,
        to: emulator.business,
        content: { kind: "location", latitude: 52.37, longitude: 4.89 }
      })
      expect(yield* next).toMatchObject({ content: { _tag: "Location", latitude: 52.37, longitude: 4.89 } })
      expect(yield* receiver.rejections).toEqual([])
    }).pipe(Effect.provide(Env)))

  it.live("without the inferred uuid, inbound ids are derived; with the wrong secret, posts are refused", () =>
    Effect.gen(function*() {
      const { emulator, network } = yield* start({ inboundUuid: false, webhookSecret: "whsec_not_ours" })
      const strict = CallbellWebhook.make({ secret: Redacted.make(secret), token: Redacted.make(token) })
      const refusals = yield* Queue.unbounded<Webhook.WebhookError>()
      const receiver = yield* WebhookReceiver.make({
        ...strict,
        verify: (request) => Effect.tapError(strict.verify(request), (error) => Queue.offer(refusals, error))
      })
      yield* emulator.setWebhookUrl(`${receiver.url}/${token}`)
      yield* network.userSends({ from: user, to: emulator.business, content: { kind: "text", text: "hi" } })
      expect(yield* Queue.take(refusals).pipe(Effect.timeout("5 seconds"))).toMatchObject({
        status: 401,
        reason: expect.stringContaining("does not match")
      })

      const { emulator: plain } = yield* start({ inboundUuid: false })
      const open = yield* WebhookReceiver.make(tokenHandler)
      yield* plain.setWebhookUrl(`${open.url}/${token}`)
      const wrote = yield* network.userSends({ from: user, to: plain.business, content: { kind: "text", text: "hey" } })
      const event = yield* Queue.take(open.events).pipe(Effect.timeout("5 seconds"))
      expect(event.messageId).toMatch(/^derived_/)
      expect(event.messageId).not.toBe(wrote.id)
    }).pipe(Effect.provide(Env)))
})

describe("Callbell emulator API", () => {
  const call = (
    url: string,
    init: { readonly method?: string; readonly key?: string | null | undefined; readonly body?: unknown } = {}
  ) =>
    Effect.promise(async () => {
      const headers: Record<string, string> = { "content-type": "application/json" }
      if (init.key !== null) headers.authorization = `Bearer ${init.key ?? apiKey}`
      const response = await fetch(url, {
        method: init.method ?? "POST",
        headers,
        ...(init.body === undefined
          ? {}
          : { body: typeof init.body === "string" ? init.body : JSON.stringify(init.body) })
      })
      return { status: response.status, body: await response.json() as Record<string, any> }
    })

  it.live("enforces auth, the documented fields and limits, and answers like Callbell", () =>
    Effect.gen(function*() {
      const { emulator } = yield* start()
      const send = (body: unknown, key?: string | null) => call(`${emulator.url}/messages/send`, { body, key })
      const text = { to: "+31612345678", from: "whatsapp", type: "text", content: { text: "hi" } }
      const media = { ...text, type: "image", content: { url: "https://cdn.example.org/x.png" } }

      expect(yield* send(text, "wrong")).toEqual({ status: 401, body: { error: "Invalid API key" } })
      expect(yield* send(text, null)).toEqual({ status: 401, body: { error: "Missing API key" } })
      expect(yield* send("{oops")).toEqual({ status: 400, body: { error: "malformed JSON body" } })
      expect(yield* send({ ...text, to: undefined })).toEqual({ status: 400, body: { error: "to: is missing" } })
      expect((yield* send({ ...text, type: "sticker" })).status).toBe(400)
      const refused: ReadonlyArray<[unknown, number, string]> = [
        [{ ...text, from: "telegram" }, 422, "from"],
        [{ ...text, to: "120363025246125486@g.us" }, 422, "to: must be a phone number"],
        [{ ...text, to: "12" }, 422, "to:"],
        [{ ...text, content: {} }, 422, "content.text is required"],
        [{ ...text, content: { text: "x".repeat(4097) } }, 422, "exceeds 4096"],
        [{ ...media, content: { url: "https://cdn.example.org/x.png", text: "c".repeat(1025) } }, 422, "exceeds 1024"],
        [{ ...media, content: {} }, 422, "content.url is required"],
        [{ ...media, content: { url: "ftp://cdn.example.org/x.png" } }, 422, "http(s)"],
        [{ ...text, template_uuid: "d980fb66" }, 422, "optin_contact"],
        [{ ...text, template_uuid: "d980fb66", optin_contact: false }, 422, "optin_contact"],
        [{ ...text, metadata: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, "v"])) }, 422, "10"],
        [{ ...text, metadata: { ["k".repeat(51)]: "v" } }, 422, "50"],
        [{ ...text, metadata: { ref: "v".repeat(501) } }, 422, "500"],
        [{ ...text, channel_uuid: "unknown-channel" }, 404, "Channel unknown-channel not found"]
      ]
      for (const [body, status, reason] of refused) {
        const answer = yield* send(body)
        expect(answer.status, reason).toBe(status)
        expect(answer.body.error).toContain(reason)
      }

      const ok = yield* send({ ...text, channel_uuid: emulator.channelUuid, metadata: { ref: "A-1" } })
      expect(ok.status).toBe(200)
      expect(ok.body).toEqual({ message: { uuid: expect.stringMatching(/^[0-9a-f]{32}$/), status: "enqueued" } })
      const withContact = yield* send({ ...text, fields: "contact" })
      expect(withContact.body.message.contact).toMatchObject({ phone: "+31612345678" })
      const template = yield* send({ ...text, template_uuid: "d980fb66", optin_contact: true })
      expect(template.status).toBe(200)

      const status = yield* call(`${emulator.url}/messages/status/${ok.body.message.uuid}`, { method: "GET" })
      expect(status).toEqual({
        status: 200,
        body: {
          message: {
            uuid: ok.body.message.uuid,
            status: "sent",
            messageStatusPayload: {
              id: expect.stringMatching(/^wamid\./),
              gsId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-/),
              type: "sent",
              payload: { type: "session", whatsappMessageId: expect.stringMatching(/^wamid\./) },
              destination: "31612345678"
            }
          }
        }
      })
      expect(yield* call(`${emulator.url}/messages/status/nope`, { method: "GET" })).toEqual({
        status: 404,
        body: { error: "Message not found" }
      })
      expect((yield* call(`${emulator.url}/messages/status/nope`, { method: "GET", key: "wrong" })).status).toBe(401)
    }).pipe(Effect.provide(Env)))

  it.live("a channel uuid the account does not have is its misconfiguration: Unauthorized, which fails over", () =>
    Effect.gen(function*() {
      const { client } = yield* start({}, { channelUuid: "0f9e8d7c6b5a49382716a5b4c3d2e1f0" })
      const error = yield* Effect.flip(client.send(Message.text(user, "hi")))
      expect(error).toMatchObject({
        _tag: "Unauthorized",
        status: 404,
        reason: "Channel 0f9e8d7c6b5a49382716a5b4c3d2e1f0 not found"
      })
      expect(MessagingError.canFailover(error)).toBe(true)
    }).pipe(Effect.provide(Env)))

  it.live("can require channel_uuid and answer a custom error body", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* start({
        requireChannelUuid: true,
        errorBody: (status, message) => ({ errors: [{ code: status, detail: message }] })
      })
      const error = yield* Effect.flip(client.send(Message.text(user, "hi")))
      expect(error).toMatchObject({
        _tag: "InvalidMessage",
        status: 400,
        reason: expect.stringContaining("channel_uuid")
      })
      const { client: configured } = yield* start({ requireChannelUuid: true }, { channelUuid: emulator.channelUuid })
      expect((yield* configured.send(Message.text(user, "hi"))).status).toBe("accepted")
    }).pipe(Effect.provide(Env)))
})
