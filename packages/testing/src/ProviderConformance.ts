/**
 * The suite every provider package runs against its client and emulator. It checks the contract the
 * rest of Parley relies on: each declared capability is sent and arrives on the fake network with the
 * receipt's id; a choice arrives as buttons where the provider declares them and as numbered text
 * elsewhere; each undeclared kind or chat is `Unsupported` with no request made; auth failures, 429s,
 * 5xx, dropped connections and a dead server map to the right errors; inbound messages and statuses
 * come back through the provider's webhook handler.
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import {
  Capabilities,
  ChatId,
  InboundEvent,
  Message,
  type MessagingError,
  MessagingService,
  type Receipt,
  type Webhook
} from "@parley/core"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Capture from "./Capture.js"
import * as Emulator from "./Emulator.js"
import * as FakeNetwork from "./FakeNetwork.js"
import * as Faults from "./Faults.js"
import * as WebhookReceiver from "./WebhookReceiver.js"

/**
 * What a provider package supplies to run the suite.
 *
 * @since 0.1.0
 * @category models
 */
export interface Suite {
  readonly name: string
  /** Starts the provider's emulator on the fake network in context. */
  readonly emulator: Effect.Effect<
    Emulator.Emulator,
    never,
    Scope.Scope | FakeNetwork.FakeNetwork | HttpClient.HttpClient
  >
  /**
   * The provider's `MessagingService` against the emulator, with `options` applied (the suite turns
   * retries off). `credentials: "invalid"` must configure a key the emulator refuses.
   */
  readonly messaging: (
    emulator: Emulator.Emulator,
    options: { readonly credentials: "valid" | "invalid"; readonly messaging: MessagingService.Options }
  ) => Layer.Layer<MessagingService.MessagingService, never, HttpClient.HttpClient>
  /** The credential strings behind `credentials: "valid"` and `"invalid"`: neither may ever be logged or traced. */
  readonly secrets: { readonly valid: string; readonly invalid: string }
  /**
   * The provider's webhook handler, set up to accept what the emulator posts, and the path suffix to
   * add to the webhook URL (a secret token, say). Absent for send-only providers.
   */
  readonly webhook?: (
    emulator: Emulator.Emulator
  ) => Effect.Effect<
    { readonly handler: Webhook.WebhookHandler; readonly pathSuffix?: string },
    never,
    HttpClient.HttpClient | Scope.Scope
  >
}

const user = ChatId.phone("+31612345678")

const ascii = (text: string) => Array.from(text, (c) => c.charCodeAt(0))

// Media for the samples, served on loopback so providers that fetch and upload media can. Each file
// begins as its type does, for providers that sniff what they upload.
const mediaFiles: Record<string, { readonly type: string; readonly magic: ReadonlyArray<number> }> = {
  jpg: { type: "image/jpeg", magic: [0xff, 0xd8, 0xff, 0xe0] },
  mp4: { type: "video/mp4", magic: [0, 0, 0, 0x18, ...ascii("ftypmp42")] },
  mp3: { type: "audio/mpeg", magic: ascii("ID3") },
  pdf: { type: "application/pdf", magic: ascii("%PDF-1.7") },
  webp: { type: "image/webp", magic: [...ascii("RIFF"), 0, 8, 0, 0, ...ascii("WEBPVP8 ")] }
}
const mediaApp = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
  const file = mediaFiles[request.url.slice(request.url.lastIndexOf(".") + 1)] ?? mediaFiles.pdf!
  const bytes = new Uint8Array(2048).fill(7)
  bytes.set(file.magic)
  return HttpServerResponse.uint8Array(bytes, { contentType: file.type })
})

const samples = (
  to: ChatId.ChatId,
  media: string
): Record<Exclude<Message.Kind, "reaction">, Message.Message> => ({
  text: Message.text(to, "Hello from the conformance suite"),
  image: Message.image(to, { url: `${media}/sample.jpg`, caption: "An image" }),
  video: Message.video(to, { url: `${media}/sample.mp4`, caption: "A video" }),
  audio: Message.audio(to, { url: `${media}/sample.mp3` }),
  document: Message.document(to, { url: `${media}/sample.pdf`, filename: "sample.pdf" }),
  sticker: Message.sticker(to, { url: `${media}/sample.webp` }),
  location: Message.location(to, { latitude: 52.3731, longitude: 4.8922, name: "Dam Square", address: "Amsterdam" }),
  template: Message.template(to, { name: "appointment_reminder", language: "en", variables: ["Ada", "Monday"] }),
  buttons: Message.buttons(to, { body: "Pick a time", options: ["09:00", "11:00", "15:00"] })
})

// A chat of each kind, to check that undeclared ones are refused.
const chats: Record<ChatId.ChatId["kind"], ChatId.ChatId> = {
  phone: user,
  group: ChatId.group("120363012345678901@g.us"),
  newsletter: Result.getOrThrow(ChatId.parse("120363098765432109@newsletter")),
  lid: Result.getOrThrow(ChatId.parse("204151234567890@lid"))
}

const expectContent = (
  capabilities: Capabilities.Capabilities,
  sent: Message.Message,
  observed: FakeNetwork.Content
) => {
  const message = Capabilities.adapt(capabilities, sent)
  expect(observed.kind).toBe(Message.kind(message))
  switch (message._tag) {
    case "Text":
      return expect(observed).toMatchObject({ text: message.text })
    case "Image":
    case "Video":
    case "Document":
      if (message.caption !== undefined) expect(observed).toMatchObject({ caption: message.caption })
      return expect("url" in observed && observed.url === message.url || "bytes" in observed && observed.bytes! > 0)
        .toBe(true)
    case "Audio":
    case "Sticker":
      return expect("url" in observed && observed.url === message.url || "bytes" in observed && observed.bytes! > 0)
        .toBe(true)
    case "Location":
      return expect(observed).toMatchObject({ latitude: message.latitude, longitude: message.longitude })
    case "Reaction":
      return expect(observed).toMatchObject({ messageId: message.messageId, emoji: message.emoji })
    case "Template":
      return expect(observed).toMatchObject({ name: message.name })
    case "Buttons":
      return expect(observed).toEqual({ kind: "buttons", text: message.body, options: message.options })
  }
}

interface Fixture {
  readonly emulator: Emulator.Emulator
  readonly network: FakeNetwork.Service
  readonly media: string
  /** The client with valid credentials and retries off. */
  readonly client: MessagingService.Service
  readonly send: (
    message: Message.Message,
    options?: { readonly credentials?: "valid" | "invalid" }
  ) => Effect.Effect<Receipt.Receipt, MessagingError.MessagingError>
}

const withFixture = <A, E>(
  suite: Suite,
  f: (fixture: Fixture) => Effect.Effect<A, E, Scope.Scope | HttpClient.HttpClient>
) =>
  Effect.gen(function*() {
    const network = yield* FakeNetwork.FakeNetwork
    const emulator = yield* suite.emulator
    const mediaServer = yield* Emulator.serve({ app: mediaApp, faults: yield* Faults.make })
    const client = (credentials: "valid" | "invalid") =>
      Effect.map(
        Layer.build(suite.messaging(emulator, { credentials, messaging: { retry: false } })),
        Context.get(MessagingService.MessagingService)
      )
    const clients = { valid: yield* client("valid"), invalid: yield* client("invalid") }
    return yield* f({
      emulator,
      network,
      media: `${mediaServer.url}/media`,
      client: clients.valid,
      send: (message, options) => clients[options?.credentials ?? "valid"].send(message)
    })
  }).pipe(
    Effect.provide(
      Layer.merge(
        FakeNetwork.layer({ autoAck: { delivered: "20 millis", read: "20 millis" } }),
        NodeHttpClient.layerUndici
      )
    )
  )

/**
 * Registers the suite's tests with Vitest under `describe(<name> conformance)`.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (suite: Suite): void => {
  describe(`${suite.name} conformance`, () => {
    it.live("each declared kind arrives on the network under the receipt's id", () =>
      withFixture(suite, ({ client, emulator, media, network, send }) =>
        Effect.gen(function*() {
          const { capabilities, provider } = client
          expect(provider).toBe(suite.name)
          const all = samples(user, media)
          for (const kind of capabilities.kinds) {
            const message = kind === "reaction"
              ? Message.reaction(user, { messageId: (yield* send(all.text)).messageId, emoji: "👍" })
              : all[kind]
            const receipt = yield* send(message)
            expect(receipt.provider).toBe(suite.name)
            expect(["accepted", "sent"]).toContain(receipt.status)
            const observed = yield* network.find(receipt.messageId)
            expect(Option.isSome(observed), `${kind}: no network message with id ${receipt.messageId}`).toBe(true)
            if (Option.isSome(observed)) {
              expect(observed.value.chat.toString()).toBe(user.toString())
              expect(observed.value.business.toString()).toBe(emulator.business.toString())
              expectContent(capabilities, message, observed.value.content)
            }
          }
        })))

    it.live("a choice arrives as buttons where the provider has them, else as numbered text", () =>
      withFixture(suite, ({ client, media, network, send }) =>
        Effect.gen(function*() {
          const { capabilities } = client
          const choice = samples(user, media).buttons
          const receipt = yield* send(choice)
          const observed = yield* network.find(receipt.messageId)
          expect(Option.isSome(observed)).toBe(true)
          if (Option.isSome(observed)) {
            expect(observed.value.content).toEqual(
              capabilities.kinds.has("buttons")
                ? { kind: "buttons", text: "Pick a time", options: ["09:00", "11:00", "15:00"] }
                : { kind: "text", text: "Pick a time\n1. 09:00\n2. 11:00\n3. 15:00" }
            )
          }
        })))

    it.live("declared reply kinds quote the original message", () =>
      withFixture(suite, ({ client, media, network, send }) =>
        Effect.gen(function*() {
          const { capabilities } = client
          const original = yield* send(Message.text(user, "original"))
          for (const kind of capabilities.replies) {
            const base = kind === "reaction" ? undefined : samples(user, media)[kind]
            if (base === undefined || !("replyTo" in base)) continue
            const receipt = yield* send({ ...base, replyTo: original.messageId } as Message.Message)
            const observed = yield* network.find(receipt.messageId)
            expect(Option.map(observed, (m) => m.replyTo)).toEqual(Option.some(original.messageId))
          }
        })))

    it.live("undeclared kinds are Unsupported and make no request", () =>
      withFixture(suite, ({ client, emulator, media, send }) =>
        Effect.gen(function*() {
          const { capabilities } = client
          const all = samples(user, media)
          const before = (yield* emulator.requests).length
          // A choice is never refused for want of buttons: it goes out as text.
          for (const kind of Message.kinds.filter((k) => !capabilities.kinds.has(k) && k !== "buttons")) {
            const message = kind === "reaction" ? Message.reaction(user, { messageId: "m1", emoji: "👍" }) : all[kind]
            const error = yield* Effect.flip(send(message))
            expect(error._tag, kind).toBe("Unsupported")
          }
          for (const kind of ChatId.Kind.literals.filter((k) => !capabilities.chats.has(k))) {
            const error = yield* Effect.flip(send(Message.text(chats[kind], "hi")))
            expect(error, `${kind} chat`).toMatchObject({ _tag: "Unsupported", feature: `${kind} chats` })
          }
          for (const kind of Message.kinds.filter((k) => capabilities.kinds.has(k) && !capabilities.replies.has(k))) {
            const base = kind === "reaction" ? undefined : all[kind]
            if (base === undefined || !("replyTo" in base)) continue
            const error = yield* Effect.flip(send({ ...base, replyTo: "m1" } as Message.Message))
            expect(error._tag, `${kind} reply`).toBe("Unsupported")
          }
          expect((yield* emulator.requests).length).toBe(before)
        })))

    it.live("a refused key is Unauthorized", () =>
      withFixture(suite, ({ send }) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(send(Message.text(user, "hi"), { credentials: "invalid" }))
          expect(error._tag).toBe("Unauthorized")
          expect(error.provider).toBe(suite.name)
        })))

    it.live("429 is RateLimited with Retry-After, in seconds or as an HTTP date", () =>
      withFixture(suite, ({ emulator, send }) =>
        Effect.gen(function*() {
          yield* emulator.faults.next(1, Faults.rateLimited(7))
          const error = yield* Effect.flip(send(Message.text(user, "hi")))
          expect(error._tag).toBe("RateLimited")
          if (error._tag === "RateLimited") expect(error.retryAfter).toEqual(Duration.seconds(7))

          yield* emulator.faults.next(1, Faults.rateLimited(new Date(Date.now() + 60_000).toUTCString()))
          const dated = yield* Effect.flip(send(Message.text(user, "hi")))
          expect(dated._tag).toBe("RateLimited")
          if (dated._tag === "RateLimited") {
            const seconds = Duration.toSeconds(dated.retryAfter ?? Duration.zero)
            expect(seconds).toBeGreaterThan(50)
            expect(seconds).toBeLessThanOrEqual(60)
          }
        })))

    it.live("5xx is ProviderUnavailable with the status", () =>
      withFixture(suite, ({ emulator, send }) =>
        Effect.gen(function*() {
          for (const status of [500, 502, 503]) {
            yield* emulator.faults.next(1, Faults.serverError(status))
            const error = yield* Effect.flip(send(Message.text(user, "hi")))
            expect(error._tag).toBe("ProviderUnavailable")
            if (error._tag === "ProviderUnavailable") expect(error.status).toBe(status)
          }
        })))

    it.live("a connection dropped after the request was read is DeliveryUnknown", () =>
      withFixture(suite, ({ emulator, send }) =>
        Effect.gen(function*() {
          yield* emulator.faults.next(1, Faults.drop())
          expect((yield* Effect.flip(send(Message.text(user, "hi"))))._tag).toBe("DeliveryUnknown")
          yield* emulator.faults.next(1, Faults.drop({ processed: true }))
          expect((yield* Effect.flip(send(Message.text(user, "hi"))))._tag).toBe("DeliveryUnknown")
        })))

    it.live("a server that is down is ProviderUnavailable, and sends work again once it is up", () =>
      withFixture(suite, ({ emulator, send }) =>
        Effect.gen(function*() {
          yield* emulator.down
          const error = yield* Effect.flip(send(Message.text(user, "hi")))
          expect(error._tag).toBe("ProviderUnavailable")
          yield* emulator.up
          expect((yield* send(Message.text(user, "back"))).provider).toBe(suite.name)
        })))

    it.live("credentials never appear in logs, spans or error messages", () =>
      withFixture(suite, ({ emulator, send }) =>
        Effect.gen(function*() {
          const capture = yield* Capture.make
          const logged = <A, E extends { readonly message: string }>(effect: Effect.Effect<A, E>) =>
            effect.pipe(
              Effect.tapError((e) => Effect.logError(e.message, e)),
              Effect.tapCause(Effect.logError),
              Effect.ignore
            )
          yield* Effect.gen(function*() {
            yield* send(Message.text(user, "ok"))
            yield* emulator.faults.next(1, Faults.serverError(503))
            yield* emulator.faults.next(1, Faults.drop())
            yield* emulator.faults.next(1, Faults.rateLimited(1))
            for (let i = 0; i < 3; i++) yield* logged(send(Message.text(user, "fails")))
            yield* logged(send(Message.text(user, "refused"), { credentials: "invalid" }))
          }).pipe(Effect.provide(capture.layer))
          const text = yield* capture.text
          const counts = yield* capture.counts
          // One span per send, each request an event on it.
          expect(counts.spans).toBeGreaterThanOrEqual(5)
          expect(counts.logs).toBeGreaterThan(3)
          expect(text).toContain("MessagingService.send")
          expect(text).toContain("http.request")
          expect(text).toContain("Unauthorized")
          expect(text).not.toContain(suite.secrets.valid)
          expect(text).not.toContain(suite.secrets.invalid)
        })))

    if (suite.webhook !== undefined) {
      const webhook = suite.webhook
      it.live("inbound messages and delivery statuses come back through the webhook handler", () =>
        withFixture(suite, ({ client, emulator, network, send }) =>
          Effect.gen(function*() {
            const { capabilities } = client
            const { handler, pathSuffix } = yield* webhook(emulator)
            const receiver = yield* WebhookReceiver.make(handler)
            yield* emulator.setWebhookUrl(`${receiver.url}${pathSuffix ?? ""}`)

            if (capabilities.inboundMessages) {
              const wrote = yield* network.userSends({
                from: user,
                to: emulator.business,
                content: { kind: "text", text: "I'd like to book" }
              })
              const event = yield* Queue.take(receiver.events).pipe(Effect.timeout("5 seconds"))
              expect(event._tag).toBe("MessageReceived")
              if (event._tag === "MessageReceived") {
                expect(event.provider).toBe(suite.name)
                expect(event.chat.toString()).toBe(user.toString())
                expect(event.content).toEqual(new InboundEvent.TextContent({ text: "I'd like to book" }))
                expect(event.messageId).toBe(wrote.id)
              }
            }

            if (capabilities.statuses.has("delivered")) {
              const receipt = yield* send(Message.text(user, "Your booking is confirmed"))
              const statuses: Array<string> = []
              while (!statuses.includes("read") && !statuses.includes("delivered")) {
                const event = yield* Queue.take(receiver.events).pipe(Effect.timeout("5 seconds"))
                if (event._tag === "StatusChanged" && event.messageId === receipt.messageId) statuses.push(event.status)
              }
              expect(statuses).toContain("delivered")
            }
            expect(yield* receiver.rejections).toEqual([])
          })))
    }
  })
}
