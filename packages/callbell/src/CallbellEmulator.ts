/**
 * A local Callbell (`/v1`) on the fake WhatsApp network: Bearer auth, `POST /messages/send` with the
 * documented fields and limits (templates need `optin_contact`, metadata ≤ 10 pairs of 50/500
 * characters), `{ message: { uuid, status: "enqueued" } }` answers, `GET /messages/status/{uuid}`,
 * fault injection, and `{ event, payload }` webhooks: `message_created` for user messages (and, as
 * Callbell does, for the messages it sent, with `status: "sent"`) and `message_status_updated` for its
 * own messages. A number not on WhatsApp is accepted, then reported `failed` ("number does not exist on
 * WhatsApp"), as the docs describe.
 *
 * What the docs leave open is a guess here, and configurable: the error body (`{ error }`), the `uuid`
 * of `message_created` (sent by default: the docs show none), the spelling of `messageContext`, whether
 * `channel_uuid` is required, and the failure payload (`{ code, reason }`).
 *
 * @since 0.1.0
 */
import { ChatId, Message } from "@parley/core"
import { Emulator, FakeNetwork } from "@parley/testing"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { createHash, randomBytes } from "node:crypto"
import * as Api from "./CallbellApi.js"

const { attachmentKind, provider, sign } = Api

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The key clients must present (default `callbell-test-key`). */
  readonly apiKey?: string | undefined
  /** The number the channel sends as (default `FakeNetwork.defaultBusiness`). */
  readonly business?: ChatId.ChatId | undefined
  /** The account's one WhatsApp channel (default a fixed uuid). */
  readonly channelUuid?: string | undefined
  /** Refuse sends without `channel_uuid` (current docs list it as required; older ones optional). */
  readonly requireChannelUuid?: boolean | undefined
  readonly webhookUrl?: string | undefined
  /** Sign webhooks with `X-Callbell-Signature` using this secret (`whsec_…`) when set. */
  readonly webhookSecret?: string | undefined
  /** Put the message `uuid` in `message_created` payloads (default true; the docs list none). */
  readonly inboundUuid?: boolean | undefined
  /** The field replies are reported in (default `messageContext`; the docs' table says `mesageContext`). */
  readonly contextField?: "messageContext" | "mesageContext" | undefined
  /** The error body for a status and message (default `{ error: message }`). */
  readonly errorBody?: ((status: number, message: string) => unknown) | undefined
  readonly port?: number | undefined
}

/**
 * A running emulator.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallbellEmulator extends Emulator.Emulator {
  readonly apiKey: string
  readonly channelUuid: string
}

/**
 * @since 0.1.0
 * @category tags
 */
export const CallbellEmulator = Context.Service<CallbellEmulator>("@parley/callbell/CallbellEmulator")

const encodeSend = Schema.encodeSync(Api.SendResponse)
const encodeStatus = Schema.encodeSync(Api.StatusResponse)
const encodeCreated = Schema.encodeSync(Api.MessageCreatedEvent)
const encodeStatusUpdated = Schema.encodeSync(Api.MessageStatusUpdatedEvent)

const hexId = (seed: string) => createHash("sha256").update(seed).digest("hex").slice(0, 32)
const dashed = (hex: string) =>
  `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
const whatsappId = (uuid: string) => `wamid.${Buffer.from(uuid, "hex").toString("base64url")}`

const notOnWhatsApp = "number does not exist on WhatsApp"

const placeholderExtension: Record<string, string> = {
  image: "jpg",
  video: "mp4",
  audio: "ogg",
  sticker: "webp",
  document: "pdf"
}

/**
 * Starts the emulator on a free loopback port for the life of the scope. Its `url` ends in `/v1`, like
 * the real base URL. Its app is a router of one handler per endpoint (`sendMessage`, `getStatus`), each a
 * function of the emulated account; its webhooks are made by `toWebhook`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Emulator.Constructor<Options, CallbellEmulator> = (options = {}) =>
  Effect.gen(function*() {
    const account = settings(options, yield* FakeNetwork.FakeNetwork)
    const base = yield* Emulator.make({
      provider,
      business: account.business,
      app: yield* Emulator.router(routes(account)),
      port: options.port,
      url: (server) => `${server}/v1`,
      webhookUrl: options.webhookUrl,
      toWebhook: toWebhook(account)
    })
    account.url = base.url
    return { ...base, apiKey: account.apiKey, channelUuid: account.channelUuid } satisfies CallbellEmulator
  })

/** The emulated account: its settings, the network, and what it remembers of the messages it sent. */
interface Account {
  readonly options: Options
  readonly network: FakeNetwork.Service
  readonly apiKey: string
  readonly business: ChatId.ChatId
  readonly channelUuid: string
  readonly contextField: "messageContext" | "mesageContext"
  /** The metadata each sent message carried, by its uuid. */
  readonly metadata: Map<string, Readonly<Record<string, string>>>
  /** The base URL clients get, once the server has a port. */
  url: string
  readonly errorBody: (status: number, message: string) => unknown
  readonly reject: (status: number, message: string) => Emulator.Reject
  readonly authorize: ReturnType<typeof Emulator.checkBearer>
}

const settings = (options: Options, network: FakeNetwork.Service): Account => {
  const apiKey = options.apiKey ?? "callbell-test-key"
  const errorBody = options.errorBody ?? ((_status: number, error: string) => ({ error }))
  const reject = (status: number, message: string) => new Emulator.Reject({ status, body: errorBody(status, message) })
  return {
    options,
    network,
    apiKey,
    business: options.business ?? FakeNetwork.defaultBusiness,
    channelUuid: options.channelUuid ?? "4f1d2c3b5a6e4f708192a3b4c5d6e7f8",
    contextField: options.contextField ?? "messageContext",
    metadata: new Map(),
    url: "",
    errorBody,
    reject,
    authorize: Emulator.checkBearer(apiKey, {
      missing: () => reject(401, "Missing API key"),
      invalid: () => reject(401, "Invalid API key")
    })
  }
}

/** The endpoints, one handler each. */
const routes = (account: Account) => [
  HttpRouter.route("POST", "/v1/messages/send", sendMessage(account)),
  HttpRouter.route("GET", "/v1/messages/status/:uuid", getStatus(account))
]

// POST /v1/messages/send: checks the body as Callbell does, delivers the message on the network, answers
// `{ message: { uuid, status: "enqueued" } }`.
const sendMessage = (account: Account) =>
  Emulator.handle(Effect.gen(function*() {
    const { channelUuid, errorBody, metadata, network, options, reject } = account
    yield* account.authorize
    const body = yield* Emulator.decodeJson(Api.SendRequest, (reason) => errorBody(400, reason))
    if (body.from !== "whatsapp") return yield* reject(422, `from: ${body.from} is not a channel of this account`)
    if (body.channel_uuid === undefined && options.requireChannelUuid) {
      return yield* reject(400, "channel_uuid is required")
    }
    if (body.channel_uuid !== undefined && body.channel_uuid !== channelUuid) {
      return yield* reject(404, `Channel ${body.channel_uuid} not found`)
    }
    yield* checkMetadata(account, body.metadata)
    const chat = yield* Result.match(ChatId.parse(body.to), {
      onFailure: (e) => Effect.fail(reject(422, `to: ${e.reason}`)),
      onSuccess: (c) => c.kind === "phone" ? Effect.succeed(c) : Effect.fail(reject(422, "to: must be a phone number"))
    })
    const content = yield* contentOf(account, body)
    const uuid = randomBytes(16).toString("hex")
    if (body.metadata) metadata.set(uuid, body.metadata)
    // A number not on WhatsApp is accepted, then reported failed.
    const outbound = { id: uuid, provider, business: account.business, chat, content }
    yield* network.deliver(outbound).pipe(
      Effect.catchTag("RecipientNotOnWhatsApp", () => network.undeliverable(outbound, notOnWhatsApp))
    )
    const contact = body.fields?.split(",").map((f) => f.trim()).includes("contact")
      ? { contact: { uuid: hexId(chat.toString()), name: null, phone: chat.toString(), email: null } }
      : {}
    return HttpServerResponse.jsonUnsafe(encodeSend({ message: { uuid, status: "enqueued", ...contact } }))
  }))

// GET /v1/messages/status/{uuid}: the message's status as the network has it.
const getStatus = (account: Account) =>
  Emulator.handle(Effect.gen(function*() {
    yield* account.authorize
    const { uuid = "" } = yield* HttpRouter.params
    const found = Option.filter(yield* account.network.find(uuid), (m) => m.provider === provider)
    if (Option.isNone(found)) return yield* account.reject(404, "Message not found")
    const message = found.value
    const status = callbellStatus(message)
    return HttpServerResponse.jsonUnsafe(encodeStatus({
      message: {
        uuid,
        status,
        messageStatusPayload: statusPayload(message, status, { type: "session", whatsappMessageId: whatsappId(uuid) })
      }
    }))
  }))

const checkMetadata = ({ reject }: Account, pairs: Readonly<Record<string, string>> | undefined) => {
  const entries = Object.entries(pairs ?? {})
  const { keyLength, pairs: most, valueLength } = Api.metadataLimits
  if (entries.length > most) return Effect.fail(reject(422, `metadata: at most ${most} key-value pairs`))
  const long = entries.find(([key, value]) => key.length > keyLength || value.length > valueLength)
  return long === undefined ? Effect.void : Effect.fail(
    reject(422, `metadata: "${long[0].slice(0, 20)}…": keys ≤ ${keyLength} and values ≤ ${valueLength} characters`)
  )
}

const checkUrl = ({ reject }: Account, url: string | undefined) => {
  if (url === undefined) return Effect.fail(reject(422, "content.url is required for attachments"))
  return /^https?:\/\//.test(url)
    ? Effect.succeed(url)
    : Effect.fail(reject(422, "content.url must be an http(s) URL"))
}

const checkLength = ({ reject }: Account, text: string | undefined, field: string, limit: number) =>
  text !== undefined && text.length > limit
    ? Effect.fail(reject(422, `${field} exceeds ${limit} characters`))
    : Effect.void

// What a send request asks to deliver, as the network's content.
const contentOf = (account: Account, body: typeof Api.SendRequest.Type) =>
  Effect.gen(function*() {
    const { text, url } = body.content
    if (body.template_uuid !== undefined) {
      if (body.optin_contact !== true) {
        return yield* account.reject(422, "optin_contact must be true to send a template")
      }
      if (url !== undefined) yield* checkUrl(account, url)
      const variables = body.template_values ?? (text ? [text] : [])
      return { kind: "template", name: body.template_uuid, variables } satisfies FakeNetwork.Content
    }
    if (body.type === "text") {
      if (!text) return yield* account.reject(422, "content.text is required")
      yield* checkLength(account, text, "content.text", Message.limits.textLength)
      return { kind: "text", text } satisfies FakeNetwork.Content
    }
    const link = yield* checkUrl(account, url)
    yield* checkLength(account, text, "content.text", Message.limits.captionLength)
    const detected = attachmentKind(link)
    const kind = body.type !== "document"
      ? body.type
      : detected === "video" || detected === "audio"
      ? detected
      : "document"
    const filename = new URL(link).pathname.split("/").pop()
    return {
      kind,
      url: link,
      ...(text ? { caption: text } : {}),
      ...(filename ? { filename: decodeURIComponent(filename) } : {})
    } satisfies FakeNetwork.Content
  })

const statusPayload = (
  message: FakeNetwork.NetworkMessage,
  status: string,
  inner: NonNullable<typeof Api.MessageStatusPayload.Type["payload"]>
) => ({
  id: whatsappId(message.id),
  gsId: dashed(hexId(`gs:${message.id}`)),
  type: status,
  payload: status === "failed" ? { code: 1002, reason: message.error ?? "failed" } : inner,
  destination: message.chat.id
})

const callbellStatus = (message: FakeNetwork.NetworkMessage) => message.status === "played" ? "read" : message.status

/**
 * The webhooks a network event makes (signed with `X-Callbell-Signature` when the account has a secret).
 * Callbell reports its own messages too: `message_created` (status `sent`) and a `sent` status.
 */
const toWebhook = (account: Account) => (event: FakeNetwork.NetworkEvent) =>
  Effect.flatMap(
    envelopesOf(account, event),
    (envelopes) =>
      Effect.map(Clock.currentTimeMillis, (now) =>
        envelopes.map((envelope) => {
          const body = JSON.stringify(envelope)
          const secret = account.options.webhookSecret
          const headers: Record<string, string> = secret === undefined ? {} : {
            [Api.signatureHeader]: sign(Redacted.make(secret), Math.floor(now / 1000), body)
          }
          return { body, headers }
        }))
  )

const envelopesOf = (account: Account, event: FakeNetwork.NetworkEvent): Effect.Effect<ReadonlyArray<unknown>> => {
  const { message } = event
  if (message.business.toString() !== account.business.toString()) return Effect.succeed([])
  if (event._tag === "UserWrote") {
    return (event.via !== undefined && event.via !== provider) || message.content.kind === "template"
      ? Effect.succeed([])
      : Effect.map(created(account, message, "received"), (envelope) => [envelope])
  }
  if (message.provider !== provider || message.direction !== "outbound") return Effect.succeed([])
  if (event._tag === "Delivered") {
    return Effect.all([created(account, message, "sent"), statusUpdated(account, message)])
  }
  // Callbell has no `played`: a played voice note was already reported `read`.
  return message.status === "played" ? Effect.succeed([]) : Effect.map(statusUpdated(account, message), (e) => [e])
}

const contact = (account: Account, chat: ChatId.ChatId, at: number) => ({
  uuid: hexId(chat.toString()),
  name: `User ${chat.id.slice(-4)}`,
  phoneNumber: chat.id,
  href: `${account.url}/contacts/${hexId(chat.toString())}`,
  source: "whatsapp",
  avatarUrl: null,
  createdAt: new Date(at).toISOString()
})

// `message_created`: a user's message (`received`), or one of the account's own (`sent`).
const created = (account: Account, message: FakeNetwork.NetworkMessage, status: "received" | "sent") =>
  Effect.gen(function*() {
    const { content } = message
    const media = content.kind === "image" || content.kind === "video" || content.kind === "audio" ||
      content.kind === "document" || content.kind === "sticker"
    const original = message.replyTo === undefined ? Option.none() : yield* account.network.find(message.replyTo)
    const quoted = Option.map(original, (m) => ({
      target: { uuid: m.id, text: m.content.kind === "text" ? m.content.text : null },
      text: m.content.kind === "text" ? m.content.text : null,
      status: m.direction === "outbound" ? "sent" : "received",
      createdAt: new Date(m.at).toISOString()
    }))
    const [from, to] = status === "received" ? [message.chat, account.business] : [account.business, message.chat]
    return encodeCreated({
      event: "message_created",
      payload: {
        ...(account.options.inboundUuid === false ? {} : { uuid: message.id }),
        to: to.id,
        from: from.id,
        text: content.kind === "text" ? content.text : media ? content.caption ?? "" : "",
        attachments: media
          ? [content.url ?? `${account.url}/uploads/${message.id}.${placeholderExtension[content.kind]}`]
          : [],
        status,
        channel: "whatsapp",
        contact: contact(account, message.chat, message.at),
        createdAt: new Date(message.at).toISOString(),
        metadata: account.metadata.get(message.id) ?? null,
        ...(content.kind === "location"
          ? {
            messageLocation: {
              coordinates: { x: content.latitude, y: content.longitude },
              googleMapsLocation: `https://maps.google.com/?q=${content.latitude},${content.longitude}`
            }
          }
          : {}),
        ...(content.kind === "reaction"
          ? { messageReaction: { emoji: content.emoji, target: { uuid: content.messageId } } }
          : {}),
        ...(Option.isNone(quoted)
          ? {}
          : account.contextField === "messageContext"
          ? { messageContext: quoted.value }
          : { mesageContext: quoted.value })
      }
    })
  })

// `message_status_updated`: one of the account's messages moved on.
const statusUpdated = (account: Account, message: FakeNetwork.NetworkMessage) =>
  Effect.map(Clock.currentTimeMillis, (now) => {
    const status = callbellStatus(message)
    return encodeStatusUpdated({
      event: "message_status_updated",
      payload: {
        uuid: message.id,
        status,
        contact: contact(account, message.chat, message.at),
        metadata: account.metadata.get(message.id) ?? null,
        messageStatusPayload: statusPayload(message, status, { ts: Math.floor(now / 1000) })
      }
    })
  })

/**
 * The emulator as a layer, for tests and the example app: `layer(options)`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = Emulator.layer(CallbellEmulator, make)
