import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { ChatId, InboundEvent, Message, MessagingService, Retry, type Webhook } from "@parley/core"
import { ProviderWebhook } from "@parley/core/provider"
import { Multisession, MultisessionApi, MultisessionWebhook } from "@parley/multisession"
import * as MultisessionEmulator from "@parley/multisession/emulator"
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
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"

const user = ChatId.phone("+6281234567890")
const userJid = "6281234567890@s.whatsapp.net"
const token = MultisessionEmulator.deviceToken("device-1")
const secret = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
const MB = 1024 * 1024
const jid = (wire: string) => Result.getOrThrow(ChatId.parse(wire))

// Settings read from these variables only.
const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

const Env = Layer.merge(FakeNetwork.layer({ autoAck: false }), NodeHttpClient.layerUndici)
const httpClients = {
  "NodeHttpClient.layerNodeHttp": NodeHttpClient.layerNodeHttp,
  "NodeHttpClient.layerUndici": NodeHttpClient.layerUndici
}

interface Served {
  readonly bytes: number
  readonly type: string
  /** Stream it without `Content-Length`. */
  readonly chunked?: boolean
  readonly status?: number
}

const ascii = (text: string) => Array.from(text, (c) => c.charCodeAt(0))

// How each type's files begin, so the gateway's content sniffing sees what they are.
const magic: Record<string, ReadonlyArray<number>> = {
  "image/jpeg": [0xff, 0xd8, 0xff, 0xe0],
  "image/png": [0x89, ...ascii("PNG"), 0x0d, 0x0a, 0x1a, 0x0a],
  "image/heic": [0, 0, 0, 0x18, ...ascii("ftypheic")],
  "video/mp4": [0, 0, 0, 0x18, ...ascii("ftypmp42")],
  "video/webm": [0x1a, 0x45, 0xdf, 0xa3],
  "audio/mpeg": ascii("ID3"),
  "audio/ogg": [...ascii("OggS"), 0],
  "application/pdf": ascii("%PDF-1.7\n"),
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document": [...ascii("PK"), 3, 4]
}

/** A file of `type` and `bytes` size: text types are text, others begin with their magic number. */
const fileOf = (type: string, bytes: number) => {
  const file = new Uint8Array(bytes).fill(type.startsWith("text/") || type.endsWith("json") ? 0x61 : 7)
  file.set((magic[type] ?? []).slice(0, bytes))
  return file
}

// A media host on loopback: `/<name>` serves the file described in `files`, anything else is 404.
const mediaHost = (files: Record<string, Served>) =>
  Effect.gen(function*() {
    const app = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
      const file = files[new URL(request.url, "http://localhost").pathname.slice(1)]
      if (file === undefined) return HttpServerResponse.text("not found", { status: 404 })
      if (file.status !== undefined) return HttpServerResponse.text("nope", { status: file.status })
      if (!file.chunked) return HttpServerResponse.uint8Array(fileOf(file.type, file.bytes), { contentType: file.type })
      const chunk = fileOf(file.type, Math.min(file.bytes, MB))
      return HttpServerResponse.stream(
        Stream.range(1, Math.ceil(file.bytes / chunk.length)).pipe(Stream.as(chunk)),
        { contentType: file.type }
      )
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
    it.live(`sends each kind with the field names the gateway's code decodes (${name})`, () =>
      Effect.gen(function*() {
        const { client, emulator, network } = yield* setup()
        const docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        const media = yield* mediaHost({
          "photo.png": { bytes: 2048, type: "image/png" },
          "clip.mp4": { bytes: 4096, type: "video/mp4" },
          "song.mp3": { bytes: 1500, type: "audio/mpeg" },
          "files/d": { bytes: 3000, type: docx, chunked: true }
        })
        const text = yield* client.send(Message.text(user, "Hi"))
        const reaction = yield* client.send(Message.reaction(user, { messageId: text.messageId, emoji: "❤️" }))
        yield* client.send(
          Message.location(user, { latitude: -6.2, longitude: 106.8, name: "Monas", address: "Jakarta" })
        )
        const image = yield* client.send(Message.image(user, { url: `${media.url}/photo.png`, caption: "X" }))
        const video = yield* client.send(Message.video(user, { url: `${media.url}/clip.mp4` }))
        const audio = yield* client.send(Message.audio(user, { url: `${media.url}/song.mp3` }))
        const document = yield* client.send(
          Message.document(user, { url: `${media.url}/files/d?sig=1`, filename: "Plan.docx", caption: "Plan" })
        )

        const requests = yield* emulator.requests
        expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([
          `POST /chats/${userJid}/messages`,
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
          { ChatJID: userJid, Emoji: "❤️" },
          { latitude: -6.2, longitude: 106.8, name: "Monas", address: "Jakarta" },
          { caption: "X", file: { filename: "photo.png", contentType: "image/png", bytes: 2048 } },
          { file: { filename: "clip.mp4", contentType: "video/mp4", bytes: 4096 } },
          { file: { filename: "song.mp3", contentType: "audio/mpeg", bytes: 1500 } },
          { filename: "Plan.docx", caption: "Plan", file: { filename: "Plan.docx", contentType: docx, bytes: 3000 } }
        ])
        for (const request of requests.slice(3)) {
          expect(request.headers["content-type"]).toMatch(/^multipart\/form-data; boundary=/)
        }
        const arrived = (id: string) => Effect.map(network.find(id), Option.map((m) => m.content))
        expect(yield* arrived(reaction.messageId)).toEqual(
          Option.some({ kind: "reaction", messageId: text.messageId, emoji: "❤️" })
        )
        // What WhatsApp receives: the types the gateway stamps (a PNG labelled JPEG) or sniffs (a .docx
        // is a ZIP archive).
        expect(yield* arrived(image.messageId)).toEqual(
          Option.some({ kind: "image", bytes: 2048, mimeType: "image/jpeg", caption: "X" })
        )
        expect(yield* arrived(video.messageId)).toEqual(
          Option.some({ kind: "video", bytes: 4096, mimeType: "video/mp4" })
        )
        expect(yield* arrived(audio.messageId)).toEqual(
          Option.some({ kind: "audio", bytes: 1500, mimeType: "audio/mpeg" })
        )
        expect(yield* arrived(document.messageId)).toEqual(
          Option.some({
            kind: "document",
            bytes: 3000,
            mimeType: "application/zip",
            filename: "Plan.docx",
            caption: "Plan"
          })
        )
        // The device token goes to the gateway only, never to the media host.
        const fetched = yield* media.requests
        expect(fetched.map((r) => r.url)).toEqual(["/photo.png", "/clip.mp4", "/song.mp3", "/files/d?sig=1"])
        for (const request of fetched) expect(request.headers.authorization).toBeUndefined()
      }).pipe(Effect.provide(Layer.merge(FakeNetwork.layer({ autoAck: false }), http))))
  }

  it.live("issue 14, point 1: a reaction reaches the user; the documented chat_jid does not decode", () =>
    Effect.gen(function*() {
      const { client, emulator, network } = yield* setup()
      const wrote = yield* network.userSends({
        from: user,
        to: emulator.business,
        content: { kind: "text", text: "Hi" }
      })
      const receipt = yield* client.send(Message.reaction(user, { messageId: wrote.id, emoji: "👍" }))
      expect(Option.map(yield* network.find(receipt.messageId), (m) => m.content)).toEqual(
        Option.some({ kind: "reaction", messageId: wrote.id, emoji: "👍" })
      )
      // The swagger's body, as the gateway's code reads it (RequestReact has no json tags).
      const documented = yield* call(`${emulator.url}/messages/${wrote.id}/reaction`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ chat_jid: userJid, emoji: "👍" })
      })
      expect(documented).toMatchObject({ status: 400, body: { error: "chat_jid is required" } })
      // Go matches keys to field names ignoring case.
      const folded = yield* call(`${emulator.url}/messages/${wrote.id}/reaction`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ chatjid: userJid, EMOJI: "🙏" })
      })
      expect(folded.status).toBe(200)
    }).pipe(Effect.provide(Env)))

  it.live("issue 14, point 2: replies are Unsupported with no request (the gateway cannot quote); its 500 for a missing recipient is InvalidMessage", () =>
    Effect.gen(function*() {
      const { client, emulator, network } = yield* setup()
      expect(client.capabilities.replies.size).toBe(0)
      const wrote = yield* network.userSends({
        from: user,
        to: emulator.business,
        content: { kind: "text", text: "Hi" }
      })
      const reply = yield* Effect.flip(client.send(Message.text(user, "Re", { replyTo: wrote.id })))
      expect(reply).toMatchObject({ _tag: "Unsupported", feature: "text replies (replyTo)" })
      expect(yield* emulator.requests).toEqual([])

      // The reply endpoint as its code behaves: the swagger's body leaves ChatJID empty; with it, the
      // text goes out unquoted.
      const replyTo = (body: unknown) =>
        call(`${emulator.url}/messages/${wrote.id}/reply`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify(body)
        })
      expect(yield* replyTo({ chat_jid: userJid, text: "Re" })).toMatchObject({
        status: 500,
        body: { error: "Phone number cannot be empty" }
      })
      const plain = yield* replyTo({ ChatJID: userJid, Text: "Re" })
      expect(plain.status).toBe(200)
      const id = (plain.body as { data: { message_id: string } }).data.message_id
      expect(Option.map(yield* network.find(id), (m) => [m.content, m.replyTo])).toEqual(
        Option.some([{ kind: "text", text: "Re" }, undefined])
      )

      // That 500 says a field did not decode, not that the number is off WhatsApp.
      yield* emulator.faults.next(
        1,
        Faults.respond(500, {
          status: false,
          code: 500,
          message: "Phone number cannot be empty",
          error: "Phone number cannot be empty"
        })
      )
      expect(yield* Effect.flip(client.send(Message.text(user, "hi")))).toMatchObject({
        _tag: "InvalidMessage",
        field: "to",
        reason: "Phone number cannot be empty"
      })
    }).pipe(Effect.provide(Env)))

  it.live("issue 14, point 4: a document off the gateway's allowlist is Unsupported at once, not retried", () =>
    Effect.gen(function*() {
      const { client, emulator, network } = yield* setup({
        client: { retry: Retry.schedule({ base: "1 millis", maxRetries: 3 }) }
      })
      const media = yield* mediaHost({
        "notes.txt": { bytes: 300, type: "text/plain" },
        "rows.csv": { bytes: 300, type: "text/csv" },
        "data.json": { bytes: 300, type: "application/json" },
        "report.pdf": { bytes: 300, type: "application/pdf" }
      })
      for (const file of ["notes.txt", "rows.csv", "data.json"]) {
        const error = yield* Effect.flip(client.send(Message.document(user, { url: `${media.url}/${file}` })))
        expect(error).toMatchObject({ _tag: "Unsupported" })
        expect(error.message).toContain("Document MIME type text/plain; charset=utf-8 is not allowed")
      }
      expect((yield* emulator.requests).length).toBe(3)
      const pdf = yield* client.send(Message.document(user, { url: `${media.url}/report.pdf` }))
      expect(Option.map(yield* network.find(pdf.messageId), (m) => m.content)).toMatchObject(
        Option.some({ kind: "document", mimeType: "application/pdf", filename: "report.pdf" })
      )
    }).pipe(Effect.provide(Env)))

  it.live("issue 14, point 5: what the gateway would mislabel or cannot address is Unsupported with no request", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup()
      const media = yield* mediaHost({
        "note.ogg": { bytes: 100, type: "audio/ogg" },
        "clip.webm": { bytes: 100, type: "video/webm" },
        "voice": { bytes: 100, type: "audio/mpeg" }
      })
      const refused = (message: Message.Message) => Effect.flip(client.send(message))
      // Every audio upload goes out as audio/mpeg, every video as video/mp4.
      expect(yield* refused(Message.audio(user, { url: `${media.url}/note.ogg` }))).toMatchObject({
        _tag: "Unsupported",
        feature: "audio as audio/ogg: the gateway labels every audio upload audio/mpeg"
      })
      expect(yield* refused(Message.video(user, { url: `${media.url}/clip.webm` }))).toMatchObject({
        _tag: "Unsupported"
      })
      // No extension: the type is the message's.
      expect(yield* refused(Message.audio(user, { url: `${media.url}/voice` }))).toMatchObject({ _tag: "Unsupported" })
      yield* client.send(Message.audio(user, { url: `${media.url}/voice`, mimeType: "audio/mpeg" }))
      // Chats the gateway looks up as phone numbers, and reactions it would attribute to the group.
      for (const to of [jid("123456789012345@lid"), jid("120363012345678901@newsletter")]) {
        expect(yield* refused(Message.text(to, "hi"))).toMatchObject({ _tag: "Unsupported" })
      }
      expect(
        yield* refused(Message.reaction(ChatId.group("120363025246125486@g.us"), { messageId: "3EB0", emoji: "👍" }))
      ).toMatchObject({ _tag: "Unsupported", feature: expect.stringContaining("reactions in groups") })
      expect((yield* emulator.requests).map((r) => r.url)).toEqual([`/chats/${userJid}/audio`])
      expect((yield* media.requests).map((r) => r.url)).toEqual(["/voice"])

      // As the gateway answers them: the phone lookup fails.
      const lid = yield* call(`${emulator.url}/chats/123456789012345@lid/messages`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ text: "hi" })
      })
      expect(lid).toMatchObject({ status: 500, body: { error: "WhatsApp Personal ID is Not Registered" } })
    }).pipe(Effect.provide(Env)))

  it.live("issue 14, point 5: media over the gateway's 8 MB body limit is Unsupported before any upload", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup()
      const media = yield* mediaHost({
        "big.pdf": { bytes: 9 * MB, type: "application/pdf" },
        "streamed.pdf": { bytes: 9 * MB, type: "application/pdf", chunked: true }
      })
      for (const file of ["big.pdf", "streamed.pdf"]) {
        const error = yield* Effect.flip(client.send(Message.document(user, { url: `${media.url}/${file}` })))
        expect(error).toMatchObject({ _tag: "Unsupported" })
        expect(error.message).toContain("body limit")
      }
      expect(yield* emulator.requests).toEqual([])
      // A gateway configured with a larger HTTP_BODY_LIMIT_SIZE takes it.
      const larger = yield* setup({ emulator: { bodyLimit: 12 * MB }, client: { bodyLimit: 12 * MB } })
      expect(yield* larger.client.send(Message.document(user, { url: `${media.url}/big.pdf` }))).toMatchObject({
        provider: "multisession"
      })
      // The gateway's own answer to an oversized body.
      yield* emulator.faults.next(
        1,
        Faults.respond(413, {
          status: false,
          code: 413,
          message: "Request Entity Too Large",
          error: "Request Entity Too Large"
        })
      )
      expect(yield* Effect.flip(client.send(Message.text(user, "x")))).toMatchObject({ _tag: "Unsupported" })
    }).pipe(Effect.provide(Env)))

  it.live("sends to groups by JID and can turn the gateway's typing simulation off", () =>
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
        typing_simulation: "false",
        presence_simulation: "false",
        file: { filename: "a.mp3", contentType: "audio/mpeg", bytes: 100 }
      })
      expect(Option.map(yield* network.find(receipt.messageId), (m) => m.chat.kind)).toEqual(Option.some("group"))
    }).pipe(Effect.provide(Env)))

  it.live("reads both the documented and the actual success answer", () =>
    Effect.gen(function*() {
      for (const variant of ["documented", "code"] as const) {
        const { client, network } = yield* setup({ emulator: { variant } })
        const receipt = yield* client.send(Message.text(user, variant))
        expect(receipt).toMatchObject({ provider: "multisession", status: "sent" })
        expect(Option.isSome(yield* network.find(receipt.messageId))).toBe(true)
      }
    }).pipe(Effect.provide(Env)))

  it.live("maps the gateway's error bodies, reading error || message", () =>
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

      yield* gateway(500, "Phone number must be in international format without leading 0")
      expect(yield* send).toMatchObject({ _tag: "RecipientUnavailable" })

      yield* gateway(500, "Error While Decoding Thumbnail Image Stream")
      expect(yield* send).toMatchObject({ _tag: "Unsupported" })

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

  it.live("media that cannot be fetched or is over 16 MB fails before any upload", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup()
      const media = yield* mediaHost({
        "busy.mp4": { bytes: 1, type: "video/mp4", status: 503 },
        "declared.mp4": { bytes: 17 * MB, type: "video/mp4" },
        "streamed.mp4": { bytes: 17 * MB, type: "video/mp4", chunked: true }
      })
      const send = (url: string) => Effect.flip(client.send(Message.video(user, { url })))

      const missing = yield* send(`${media.url}/gone.mp4?token=s3cr3t`)
      expect(missing).toMatchObject({ _tag: "InvalidMessage", field: "url" })
      expect(missing.message).toContain(`${media.url}/gone.mp4`)
      expect(missing.message).toContain("404")
      expect(missing.message).not.toContain("s3cr3t")

      expect(yield* send(`${media.url}/busy.mp4`)).toMatchObject({ _tag: "ProviderUnavailable", status: 503 })

      const declared = yield* send(`${media.url}/declared.mp4`)
      expect(declared).toMatchObject({ _tag: "InvalidMessage", field: "url" })
      expect(declared.message).toContain(`is ${17 * MB} bytes`)

      // Streamed, it is only known to be over the gateway's limit, which another provider may not have.
      const streamed = yield* send(`${media.url}/streamed.mp4`)
      expect(streamed).toMatchObject({ _tag: "Unsupported" })
      expect(streamed.message).toContain(`is more than ${8 * MB - 64 * 1024} bytes`)

      yield* media.down
      const down = yield* send(`${media.url}/declared.mp4`)
      expect(down).toMatchObject({ _tag: "ProviderUnavailable" })
      expect(down.message).toContain("could not be fetched (Transport: ECONNREFUSED)")

      expect(yield* emulator.requests).toEqual([])
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
      withEnv({
        PARLEY_MULTISESSION_BASE_URL: "http://gateway.internal:7001/api",
        PARLEY_MULTISESSION_TOKEN: "jwt",
        PARLEY_MULTISESSION_SIMULATION: "false",
        PARLEY_MULTISESSION_RATE_LIMIT: "2",
        PARLEY_MULTISESSION_RATE_LIMIT_BURST: "5"
      })
    ))

  it.effect("layerConfig defaults the base URL and names a missing token", () =>
    Effect.gen(function*() {
      const options = yield* Multisession.config.pipe(withEnv({ PARLEY_MULTISESSION_TOKEN: "jwt" }))
      expect(options).toMatchObject({ baseUrl: "http://localhost:7001", simulation: undefined, rateLimit: undefined })
      const error = yield* Effect.flip(Multisession.config).pipe(withEnv({}))
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
  const signature = ProviderWebhook.sign(MultisessionApi.signature(Redacted.make(options.key ?? secret)), raw)
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

const handler = MultisessionWebhook.make({ secret: Redacted.make(secret) })
const business = "15550000001@s.whatsapp.net"

describe("Multisession webhooks", () => {
  it.live("issue 14, point 3: a user's message is handed on without content, answered 2xx, with no lookup at the gateway", () =>
    Effect.gen(function*() {
      const { emulator, network } = yield* setup()
      const receiver = yield* WebhookReceiver.make(handler)
      yield* emulator.setWebhookUrl(receiver.url)
      const wrote = yield* network.userSends({
        from: user,
        to: emulator.business,
        content: { kind: "text", text: "Hello" }
      })
      const event = yield* Queue.take(receiver.events).pipe(Effect.timeout("5 seconds"))
      expect(event).toEqual(
        new InboundEvent.MessageReceived({
          provider: "multisession",
          eventId: `message.received:${wrote.id}`,
          messageId: wrote.id,
          chat: user,
          sender: user,
          content: new InboundEvent.UnavailableContent({ reason: MultisessionWebhook.unavailableReason }),
          at: new Date(Math.floor(wrote.at / 1000) * 1000)
        })
      )
      const group = ChatId.group("120363025246125486@g.us")
      yield* network.userSends({
        from: group,
        author: user,
        to: emulator.business,
        content: { kind: "text", text: "x" }
      })
      const grouped = yield* Queue.take(receiver.events).pipe(Effect.timeout("5 seconds"))
      expect(grouped._tag === "MessageReceived" && [grouped.chat.toString(), grouped.sender.toString()]).toEqual([
        group.toString(),
        user.toString()
      ])
      expect(yield* receiver.rejections).toEqual([])
      // The content is nowhere to be had: the history endpoint is a stub.
      expect(yield* emulator.requests).toEqual([])
      const history = yield* call(`${emulator.url}/chats/${userJid}/messages`, {
        headers: { authorization: `Bearer ${token}` }
      })
      expect(history.body).toEqual({
        status: true,
        code: 200,
        message: "Success get chat messages",
        data: { chat_jid: userJid, limit: 50, before: "", after: "", messages: [] }
      })
    }).pipe(Effect.provide(Env)))

  it.live("receipts become statuses one for one; a failure arrives as message.delivered, as the gateway posts it", () =>
    Effect.gen(function*() {
      const { client, emulator, network } = yield* setup()
      const receiver = yield* WebhookReceiver.make(handler)
      yield* emulator.setWebhookUrl(receiver.url)
      const next = Queue.take(receiver.events).pipe(Effect.timeout("5 seconds"))
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
      const failing = yield* client.send(Message.text(user, "Bounces"))
      yield* network.setStatus(failing.messageId, "failed", "server-error")
      expect(yield* next).toMatchObject({ messageId: failing.messageId, status: "delivered" })
      expect(client.capabilities.statuses.has("failed")).toBe(false)
    }).pipe(Effect.provide(Env)))

  it.live("deliveries carry both signature headers, the event name and the gateway's User-Agent", () =>
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
        log: Emulator.requestLog()
      })
      yield* emulator.setWebhookUrl(`${sink.url}/hook`)
      const wrote = yield* network.userSends({
        from: user,
        to: emulator.business,
        content: { kind: "text", text: "x" }
      })
      const { body, headers } = yield* Queue.take(received).pipe(Effect.timeout("5 seconds"))
      const signature = ProviderWebhook.sign(MultisessionApi.signature(Redacted.make(secret)), body)
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

  it.live("verifies either signature header and refuses wrong or missing ones with 401", () =>
    Effect.gen(function*() {
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

  it.effect("decodes receipts; ignores our echoes, our own devices' receipts, status@broadcast and other events (issue 14, point 5)", () =>
    Effect.gen(function*() {
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
      const [read] = yield* decode(
        envelope("message.read", { message_id: "3EB0AC", chat: userJid, sender: "6281234567890:3@s.whatsapp.net" })
      )
      expect(read).toMatchObject({ status: "read", at: new Date("2025-03-01T10:00:00.123Z") })

      const ignored = [
        envelope("message.received", {
          message_id: "3EB0AD",
          from: userJid,
          chat: userJid,
          timestamp: 1,
          is_from_me: true
        }),
        // We read the user's message on our phone: whatsmeow's read-self receipt, posted as message.read.
        envelope("message.read", { message_id: "3EB0AE", chat: userJid, sender: business, timestamp: 1 }),
        // A status update, and its receipts.
        envelope("message.received", {
          message_id: "3EB0AF",
          from: userJid,
          chat: "status@broadcast",
          timestamp: 1,
          is_from_me: false
        }),
        envelope("message.read", { message_id: "3EB0AG", chat: "status@broadcast", sender: userJid, timestamp: 1 }),
        envelope("connection.connected", { jid: "6281234567890" }),
        envelope("media.received", { message_id: "x", chat: userJid, media_type: "image" })
      ]
      for (const body of ignored) expect(yield* decode(body)).toEqual([])
    }))

  it.effect("refuses only malformed JSON: what cannot be addressed is skipped, odd fields are dropped", () =>
    Effect.gen(function*() {
      const decode = (body: unknown) => handler.decode(delivery(body))
      const malformed = yield* Effect.flip(handler.decode(delivery("{not json")))
      expect(malformed).toMatchObject({ _tag: "WebhookError", status: 400 })
      expect(malformed.reason).toContain("malformed JSON")

      for (
        const body of [
          envelope("message.received", { from: userJid, chat: userJid, timestamp: 1, is_from_me: false }),
          { device_id: "d", timestamp: "t", data: {} },
          envelope("message.received", { message_id: "m", from: "x@y", chat: "x@y", timestamp: 1, is_from_me: false }),
          envelope("message.read", { chat: userJid }),
          42
        ]
      ) {
        expect(yield* decode(body)).toEqual([])
      }
      // A sender it cannot read, a timestamp of the wrong type: the message is still the user's.
      const [odd] = yield* decode(
        envelope("message.received", { message_id: "m2", from: 7, chat: userJid, timestamp: "soon", is_from_me: false })
      )
      expect(odd).toMatchObject({ _tag: "MessageReceived", messageId: "m2", at: new Date("2025-03-01T10:00:00.123Z") })
      expect(odd?._tag === "MessageReceived" && odd.sender.toString()).toBe(user.toString())
    }))

  it.effect("config reads the webhook secret", () =>
    Effect.gen(function*() {
      const options = yield* MultisessionWebhook.config
      expect(Redacted.value(options.secret)).toBe("s")
      const error = yield* Effect.flip(MultisessionWebhook.config).pipe(withEnv({}))
      expect(String(error)).toContain("PARLEY_MULTISESSION_WEBHOOK_SECRET")
    }).pipe(withEnv({ PARLEY_MULTISESSION_WEBHOOK_SECRET: "s" })))
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
  it.live("answers the gateway's 401s", () =>
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

  it.live("validates bodies and answers in the documented or the code's wording", () =>
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

  it.live("parses multipart uploads and enforces the body limit with 413", () =>
    Effect.gen(function*() {
      const { emulator, network } = yield* setup({ emulator: { bodyLimit: 4096 } })
      const upload = (bytes: number, fields: Record<string, string> = {}) => {
        const form = new FormData()
        for (const [key, value] of Object.entries(fields)) form.append(key, value)
        form.append("file", new Blob([fileOf("application/pdf", bytes)], { type: "application/pdf" }), "r.pdf")
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
      expect(yield* upload(5000)).toMatchObject({
        status: 413,
        body: { status: false, code: 413, message: "Request Entity Too Large", error: "Request Entity Too Large" }
      })
      const recorded = yield* emulator.requests
      expect(recorded.map((r) => r.body)).toEqual([
        { caption: "Report", file: { filename: "r.pdf", contentType: "application/pdf", bytes: 1000 } },
        { file: { filename: "r.pdf", contentType: "application/pdf", bytes: 5000 } }
      ])
    }).pipe(Effect.provide(Env)))
})
