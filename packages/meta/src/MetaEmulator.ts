/**
 * A local WhatsApp Cloud API on the fake WhatsApp network: the Graph API's bearer auth (401, code 190),
 * `POST /{version}/{phone-number-id}/messages` checked by the `MetaApi` schemas (400, code 100, for a
 * malformed message; WhatsApp's text, caption and interactive limits), sends answered with
 * acceptance (`wamid.` ids) and their outcome posted later as `statuses`, media uploads
 * (`POST …/media`, multipart), media lookups (`GET /{version}/{media-id}`) and downloads, mark as read,
 * templates checked against the approved ones (132000, 132001, 132012), the 24 h window (131047),
 * undeliverable numbers (a `failed` status with 131026, as Meta reports them), fault injection, and
 * webhooks signed with `X-Hub-Signature-256`: users' messages (media by id, a reply to a choice as the
 * tapped button or list row) and statuses. `verifyWebhook` makes the GET verification Meta makes.
 *
 * It answers and sends what Meta does (see `test/fixtures/deliveries.ts` for the shapes and their
 * sources): a wrong phone-number id or media id is Graph's 400 with code 100 and subcode 33; users'
 * profiles carry a business-scoped user id (`user_id`) beside the number; a forwarded message has a
 * `context` with `forwarded` (or `frequently_forwarded`) and no `id`; statuses carry the user's profile
 * (but `failed` ones), per-message pricing with its `type`, and a voice message's `played`.
 *
 * What the docs leave open is configurable: whether the window is enforced, and then synchronously
 * (an error answer) or as a `failed` status; the HTTP status of errors about a message (400, as Meta
 * answers).
 *
 * @since 0.1.0
 */
import { ChatId } from "@parley/core"
import { ProviderWebhook } from "@parley/core/provider"
import { Emulator, FakeNetwork, type Faults, MetaEmulation } from "@parley/testing"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { createHash, randomBytes } from "node:crypto"
import * as Api from "./MetaApi.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The access token clients must present (default `meta-test-token`). */
  readonly accessToken?: string | undefined
  /** The business phone number's id (default `106540352242922`). */
  readonly phoneNumberId?: string | undefined
  /** The WhatsApp Business Account id in webhooks (default `102290129340398`). */
  readonly wabaId?: string | undefined
  /** The number it sends as (default `FakeNetwork.defaultBusiness`). */
  readonly business?: ChatId.ChatId | undefined
  /** The app secret webhooks are signed with (default `meta-test-app-secret`). */
  readonly appSecret?: string | undefined
  /** The verify token `verifyWebhook` presents (default `meta-test-verify-token`). */
  readonly verifyToken?: string | undefined
  readonly webhookUrl?: string | undefined
  /** The approved templates, by name, with their number of body variables (absent: any). */
  readonly templates?: Readonly<Record<string, number>> | undefined
  /**
   * Free-form messages to chats that have not written in 24 h: refused with 131047 (`sync`), accepted
   * and then `failed` with 131047 (`async`, as Meta usually reports it), or sent (`false`, default).
   */
  readonly window?: "sync" | "async" | false | undefined
  /** The HTTP status of errors about a message (default 400, as Meta answers). */
  readonly errorStatus?: number | undefined
  readonly port?: number | undefined
}

/**
 * A running emulator.
 *
 * @since 0.1.0
 * @category models
 */
export interface MetaEmulator extends Emulator.Emulator {
  readonly accessToken: string
  readonly phoneNumberId: string
  readonly appSecret: string
  readonly verifyToken: string
  /**
   * Meta's verification of a webhook URL: `GET <url>?hub.mode=subscribe&hub.verify_token=<token>&
   * hub.challenge=<random>` (the token defaults to `verifyToken`). `verified`: the answer was 200 with the
   * challenge.
   */
  readonly verifyWebhook: (
    url: string,
    token?: string
  ) => Effect.Effect<{ readonly status: number; readonly body: string; readonly verified: boolean }>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const MetaEmulator = Context.Service<MetaEmulator>("@parley/meta/MetaEmulator")

/**
 * A fault that answers the next request(s) with a Meta error of `code` (status 400, or `status`).
 *
 * @since 0.1.0
 * @category faults
 */
export const errorFault = (code: number, message = `error ${code}`, status = 400): Faults.Fault => {
  const { body } = MetaEmulation.error(status, { code, message })
  return { _tag: "Respond", status, body }
}

/**
 * A fault: the account temporarily blocked for policy violations, as Meta answers it (403, code 368).
 *
 * @since 0.1.0
 * @category faults
 */
export const blockedForPolicy: Faults.Fault = errorFault(368, "(#368) Temporarily blocked for policies violations", 403)

interface StoredMedia {
  readonly content?: Uint8Array | undefined
  readonly url?: string | undefined
  readonly mimeType: string
}

const encodeValue = Schema.encodeSync(Api.Value)
const encodeBody = Schema.encodeSync(Api.WebhookBody)
const encodeInfo = Schema.encodeSync(Api.MediaInfo)
const encodePhoneNumber = Schema.encodeSync(Api.PhoneNumber)
const encodeSuccess = Schema.encodeSync(Api.SuccessResponse)
const encodeUpload = Schema.encodeSync(Api.UploadResponse)
const decodeMessage = Schema.decodeUnknownEffect(Schema.Union([Api.SendRequest, Api.MarkReadRequest]), {
  errors: "first"
})

const mediaKinds = ["image", "video", "audio", "document", "sticker"] as const
type MediaKind = typeof mediaKinds[number]

const kindOfType = (mimeType: string): MediaKind | undefined =>
  mediaKinds.find((kind) => Api.uploadMimeTypes[kind].includes(mimeType))

// A failure Meta reports in a status: `<code>: <title>` on the network.
const errorOf = (text: string | undefined): Api.WebhookError => {
  const at = text?.indexOf(": ") ?? -1
  const code = at > 0 ? Number(text!.slice(0, at)) : 131000
  const title = at > 0 ? text!.slice(at + 2) : text ?? "Something went wrong"
  return { code: Number.isNaN(code) ? 131000 : code, title, message: title, error_data: { details: title } }
}

const defaultMimeTypes: Record<MediaKind, string> = {
  image: "image/jpeg",
  video: "video/mp4",
  audio: "audio/ogg",
  document: "application/pdf",
  sticker: "image/webp"
}

const digits = () => String(BigInt(`0x${randomBytes(7).toString("hex")}`))

const seconds = (millis: number) => String(Math.floor(millis / 1000))

// A business-scoped user id as Meta writes them (`NL.` and 20 digits), the same for a number every time.
const countries: ReadonlyArray<readonly [string, string]> = [
  ["1", "US"],
  ["31", "NL"],
  ["32", "BE"],
  ["33", "FR"],
  ["34", "ES"],
  ["44", "GB"],
  ["49", "DE"],
  ["55", "BR"],
  ["91", "IN"]
]
const bsuid = (waId: string) => {
  const country = countries.find(([prefix]) => waId.startsWith(prefix))?.[1] ?? "US"
  const hash = createHash("sha256").update(waId).digest()
  return `${country}.${
    (hash.readBigUInt64BE(0) * 100n + BigInt(hash[8]! % 100)).toString().padStart(20, "0").slice(0, 20)
  }`
}

/** What every part of a running emulator shares: its settings, the network and what it stores. */
interface Setup {
  readonly network: FakeNetwork.Service
  readonly templates: Options["templates"]
  readonly window: Options["window"]
  readonly accessToken: string
  readonly phoneNumberId: string
  readonly wabaId: string
  readonly business: ChatId.ChatId
  readonly appSecret: string
  readonly errorStatus: number
  readonly log: Emulator.RequestLog
  readonly media: Map<string, StoredMedia>
  /** The base URL, once the server listens (media URLs point at it). */
  base: string
}

// ---------------------------------------------------------------------------------------------------
// the Graph API
// ---------------------------------------------------------------------------------------------------

const invalid = (setup: Setup, details: string, code = 100) =>
  MetaEmulation.error(setup.errorStatus, { code, message: "(#100) Invalid parameter", details })

const authorize = (setup: Setup) =>
  Emulator.checkBearer(setup.accessToken, {
    missing: () =>
      MetaEmulation.error(401, {
        code: 190,
        message: "An active access token must be used to query information about the current user."
      }),
    invalid: () =>
      MetaEmulation.error(401, { code: 190, message: "Invalid OAuth access token - Cannot parse access token" })
  })

// Every route: auth, a version like `v23.0`, and (for the phone number's routes) this number: another
// id is an object that does not exist for this token, as Graph says it (100, subcode 33).
const guard = (setup: Setup, number?: string) =>
  Effect.gen(function*() {
    yield* authorize(setup)
    const { phoneNumberId: given, version } = yield* HttpRouter.params
    if (!/^v\d+\.\d+$/.test(version ?? "")) return yield* invalid(setup, `unknown API version ${version}`, 2500)
    if (number !== undefined && given !== number) return yield* MetaEmulation.unknownObject(given ?? "", "post")
  })

const record = (setup: Setup, body: unknown) =>
  Effect.map(
    HttpServerRequest.HttpServerRequest,
    (request) => setup.log.record({ method: request.method, url: request.url, headers: request.headers, body })
  )

const recipient = (setup: Setup, to: string) => {
  const chat = ChatId.parse(to)
  return Result.isSuccess(chat) && chat.success.kind === "phone"
    ? Effect.succeed(chat.success)
    : Effect.fail(invalid(setup, `to: ${to} is not a WhatsApp user's phone number`, 131009))
}

const mediaContent = (setup: Setup, kind: MediaKind, object: typeof Api.MediaObject.Type) => {
  const extra = {
    ...(object.caption ? { caption: object.caption } : {}),
    ...(object.filename ? { filename: object.filename } : {})
  }
  if (object.link !== undefined) return Effect.succeed<FakeNetwork.Content>({ kind, url: object.link, ...extra })
  const stored = setup.media.get(object.id ?? "")
  if (stored === undefined) return Effect.fail(invalid(setup, `${kind}.id: media ${object.id} not found`, 131053))
  return Effect.succeed<FakeNetwork.Content>({
    kind,
    mimeType: stored.mimeType,
    bytes: stored.content?.length,
    url: stored.url,
    ...extra
  })
}

const contentOf = (setup: Setup, body: Api.SendRequest): Effect.Effect<FakeNetwork.Content, Emulator.Reject> => {
  switch (body.type) {
    case "text":
      return body.text.body.trim() === ""
        ? Effect.fail(invalid(setup, "text.body is required"))
        : Effect.succeed({ kind: "text", text: body.text.body })
    case "image":
      return mediaContent(setup, "image", body.image)
    case "video":
      return mediaContent(setup, "video", body.video)
    case "audio":
      return mediaContent(setup, "audio", body.audio)
    case "document":
      return mediaContent(setup, "document", body.document)
    case "sticker":
      return mediaContent(setup, "sticker", body.sticker)
    case "location":
      return Math.abs(body.location.latitude) > 90 || Math.abs(body.location.longitude) > 180
        ? Effect.fail(invalid(setup, "location: latitude or longitude out of range"))
        : Effect.succeed({ kind: "location", ...body.location })
    case "reaction":
      return Effect.flatMap(setup.network.find(body.reaction.message_id), (original) =>
        Option.isNone(original)
          ? Effect.fail(invalid(setup, `reaction.message_id: message ${body.reaction.message_id} not found`, 131009))
          : Effect.succeed({ kind: "reaction", messageId: body.reaction.message_id, emoji: body.reaction.emoji }))
    case "template":
      return Effect.map(
        MetaEmulation.templateVariables({
          name: body.template.name,
          components: body.template.components ?? [],
          templates: setup.templates,
          status: setup.errorStatus
        }),
        (variables) => ({ kind: "template", name: body.template.name, variables })
      )
    case "interactive": {
      const { action, body: text } = body.interactive
      const titles = "buttons" in action
        ? action.buttons.map((button) => button.reply.title)
        : action.sections.flatMap((section) => section.rows.map((row) => row.title))
      return Effect.succeed({ kind: "buttons", text: text.text, options: titles })
    }
  }
}

// Meta accepts, then reports what could not be delivered as a `failed` status.
const send = (setup: Setup, body: Api.SendRequest) =>
  Effect.gen(function*() {
    const { network } = setup
    const chat = yield* recipient(setup, body.to)
    const content = yield* contentOf(setup, body)
    const freeForm = body.type !== "template" && body.type !== "reaction"
    const closed = freeForm && setup.window && !(yield* MetaEmulation.windowOpen(network, setup.business, chat))
    if (closed && setup.window === "sync") return yield* MetaEmulation.windowClosed(setup.errorStatus)
    const waId = ChatId.toDigits(chat)
    const message = {
      id: MetaEmulation.wamid(waId),
      provider: Api.provider,
      business: setup.business,
      chat,
      content,
      replyTo: body.context?.message_id
    }
    if (closed) yield* network.undeliverable(message, "131047: Re-engagement message")
    else {
      yield* network.deliver(message).pipe(
        Effect.catchTag("RecipientNotOnWhatsApp", () => network.undeliverable(message, "131026: Message undeliverable"))
      )
    }
    return MetaEmulation.sendResponse({ id: message.id, waId })
  })

const markRead = (setup: Setup, body: typeof Api.MarkReadRequest.Type) =>
  Effect.gen(function*() {
    const found = yield* setup.network.find(body.message_id)
    if (Option.isNone(found) || found.value.direction !== "inbound") {
      return yield* invalid(setup, `message_id: ${body.message_id} is not a message this number received`, 131009)
    }
    yield* setup.network.setStatus(body.message_id, "read")
    return encodeSuccess({ success: true })
  })

// `POST /{version}/{phone-number-id}/messages`: a send, or a mark as read.
const messagesRoute = (setup: Setup) =>
  Emulator.handle(Effect.gen(function*() {
    yield* guard(setup, setup.phoneNumberId)
    const request = yield* HttpServerRequest.HttpServerRequest
    const json = yield* Effect.orElseSucceed(request.json, () => undefined)
    yield* record(setup, json)
    if (json === undefined) return yield* invalid(setup, "the body must be JSON")
    const body = yield* decodeMessage(json).pipe(Effect.mapError((error) => invalid(setup, error.message)))
    return HttpServerResponse.jsonUnsafe("status" in body ? yield* markRead(setup, body) : yield* send(setup, body))
  }))

// `POST /{version}/{phone-number-id}/media`: a multipart upload, stored under a new id.
const uploadRoute = (setup: Setup) =>
  Emulator.handle(Effect.gen(function*() {
    yield* guard(setup, setup.phoneNumberId)
    const request = yield* HttpServerRequest.HttpServerRequest
    const bytes = new Uint8Array(yield* Effect.orElseSucceed(request.arrayBuffer, () => new ArrayBuffer(0)))
    const form = yield* Effect.orElseSucceed(
      Emulator.readMultipart(bytes, request.headers),
      (): Emulator.Upload => ({ fields: {}, files: [] })
    )
    const file = form.files.find((f) => f.key === Api.uploadFields.file)
    yield* record(setup, { ...form.fields, file: file && { name: file.name, bytes: file.content.length } })
    if (form.fields[Api.uploadFields.product] !== "whatsapp") {
      return yield* invalid(setup, "messaging_product is required")
    }
    if (file === undefined) {
      return yield* invalid(setup, "file is required")
    }
    const type = form.fields[Api.uploadFields.type] ?? file.contentType
    const kind = kindOfType(type)
    if (kind === undefined) return yield* invalid(setup, `type: ${type} is not a supported media type`, 131053)
    if (file.content.length > Api.mediaLimits[kind]) {
      return yield* invalid(setup, `file: ${kind} over ${Api.mediaLimits[kind]} bytes`, 131053)
    }
    const id = digits()
    setup.media.set(id, { content: file.content, mimeType: type })
    return HttpServerResponse.jsonUnsafe(encodeUpload({ id }))
  }))

const mediaInfo = (setup: Setup, id: string, stored: StoredMedia) =>
  encodeInfo({
    messaging_product: "whatsapp",
    url: stored.url ?? `${setup.base}/lookaside/whatsapp_business/attachments?mid=${id}&ext=${Date.now()}`,
    mime_type: stored.mimeType,
    ...(stored.content === undefined
      ? {}
      : { sha256: createHash("sha256").update(stored.content).digest("hex"), file_size: stored.content.length }),
    id
  })

// `GET /{version}/{id}`: the business phone number, or a media id's download URL.
const lookupRoute = (setup: Setup) =>
  Emulator.handle(Effect.gen(function*() {
    yield* guard(setup)
    yield* record(setup, undefined)
    const { mediaId = "" } = yield* HttpRouter.params
    if (mediaId === setup.phoneNumberId) {
      return HttpServerResponse.jsonUnsafe(encodePhoneNumber({
        verified_name: "Parley Emulator",
        display_phone_number: ChatId.toDigits(setup.business),
        id: setup.phoneNumberId,
        quality_rating: "GREEN"
      }))
    }
    const stored = setup.media.get(mediaId)
    if (stored === undefined) return yield* MetaEmulation.unknownObject(mediaId, "get")
    return HttpServerResponse.jsonUnsafe(mediaInfo(setup, mediaId, stored))
  }))

// The download behind a media URL, with the same bearer token.
const downloadRoute = (setup: Setup) =>
  Emulator.handle(Effect.gen(function*() {
    yield* authorize(setup)
    yield* record(setup, undefined)
    const request = yield* HttpServerRequest.HttpServerRequest
    const mid = new URL(request.url, "http://localhost").searchParams.get("mid") ?? ""
    const stored = setup.media.get(mid)
    return stored?.content === undefined
      ? HttpServerResponse.empty({ status: 404 })
      : HttpServerResponse.uint8Array(stored.content, { contentType: stored.mimeType })
  }))

// ---------------------------------------------------------------------------------------------------
// webhooks
// ---------------------------------------------------------------------------------------------------

const post = (setup: Setup, value: Omit<typeof Api.Value.Type, "messaging_product" | "metadata">) => {
  const body = JSON.stringify(encodeBody({
    object: "whatsapp_business_account",
    entry: [{
      id: setup.wabaId,
      changes: [{
        field: "messages",
        value: encodeValue({
          messaging_product: "whatsapp",
          metadata: { display_phone_number: ChatId.toDigits(setup.business), phone_number_id: setup.phoneNumberId },
          ...value
        })
      }]
    }]
  }))
  const secret = Redacted.make(setup.appSecret)
  return { body, headers: { [Api.signatureHeader]: ProviderWebhook.sign(Api.signature(secret), body) } }
}

// The profile Meta sends with a user's messages and statuses: name, number and business-scoped id.
const profile = (waId: string): typeof Api.Contact.Type => ({
  profile: { name: `User ${waId.slice(-4)}` },
  wa_id: waId,
  user_id: bsuid(waId)
})

// A reply to a choice with one of its options is the tap of that button or list row.
const interactiveReply = (setup: Setup, message: FakeNetwork.NetworkMessage) =>
  Effect.map(
    message.replyTo === undefined ? Effect.succeedNone : setup.network.find(message.replyTo),
    (quoted) => {
      const { content } = message
      if (content.kind !== "text" || Option.isNone(quoted) || quoted.value.content.kind !== "buttons") {
        return Option.none()
      }
      const options = quoted.value.content.options
      const index = options.indexOf(content.text)
      if (index === -1) return Option.none()
      const reply = { id: String(index + 1), title: content.text }
      return Option.some(
        options.length <= Api.interactiveLimits.buttons
          ? { type: "button_reply", button_reply: reply }
          : { type: "list_reply", list_reply: reply }
      )
    }
  )

// A reply quotes the message it answers; a forwarded message says so, with no id.
const contextOf = (setup: Setup, message: FakeNetwork.NetworkMessage): typeof Api.Context.Type | undefined =>
  message.replyTo !== undefined
    ? { from: ChatId.toDigits(setup.business), id: message.replyTo }
    : message.forwarded === "frequently"
    ? { frequently_forwarded: true }
    : message.forwarded === "once"
    ? { forwarded: true }
    : undefined

// What a user's message is in a delivery: its type and the field that carries it (media by id, stored
// for the media lookup).
const contentFields = (setup: Setup, content: FakeNetwork.Content) => {
  switch (content.kind) {
    case "text":
      return { type: "text", text: { body: content.text } }
    case "location":
      return {
        type: "location",
        location: {
          latitude: content.latitude,
          longitude: content.longitude,
          name: content.name,
          address: content.address
        }
      }
    case "reaction":
      return { type: "reaction", reaction: { message_id: content.messageId, emoji: content.emoji || undefined } }
    case "template":
    case "buttons":
      return undefined
    default: {
      const id = digits()
      const mimeType = content.mimeType ?? defaultMimeTypes[content.kind]
      setup.media.set(id, { url: content.url, mimeType })
      return {
        type: content.kind,
        [content.kind]: {
          id,
          mime_type: mimeType,
          sha256: createHash("sha256").update(id).digest("base64"),
          ...(content.caption ? { caption: content.caption } : {}),
          ...(content.filename ? { filename: content.filename } : {}),
          ...(content.kind === "audio" ? { voice: (content.mimeType ?? mimeType).startsWith("audio/ogg") } : {})
        }
      }
    }
  }
}

const inbound = (setup: Setup, message: FakeNetwork.NetworkMessage) =>
  Effect.map(interactiveReply(setup, message), (tapped) => {
    const waId = ChatId.toDigits(message.chat)
    const fields = Option.isSome(tapped)
      ? { type: "interactive", interactive: tapped.value }
      : contentFields(setup, message.content)
    if (fields === undefined) return []
    const context = contextOf(setup, message)
    return [post(setup, {
      contacts: [profile(waId)],
      messages: [{
        ...(context === undefined ? {} : { context }),
        from: waId,
        id: message.id,
        timestamp: seconds(message.at),
        ...fields
      } as Api.InboundMessage]
    })]
  })

const statusPost = (setup: Setup, message: FakeNetwork.NetworkMessage, status: string, at: number) => {
  const waId = ChatId.toDigits(message.chat)
  const failed = status === "failed"
  return post(setup, {
    // Failed statuses come without the user's profile.
    ...(failed ? {} : { contacts: [profile(waId)] }),
    statuses: [{
      id: message.id,
      status,
      timestamp: seconds(at),
      recipient_id: waId,
      ...(failed
        ? { errors: [errorOf(message.error)] }
        : {
          conversation: {
            id: createHash("sha256").update(waId).digest("hex").slice(0, 32),
            origin: { type: "service" }
          },
          pricing: { billable: false, pricing_model: "PMP", category: "service", type: "free_customer_service" }
        })
    }]
  })
}

const toWebhook =
  (setup: Setup) => (event: FakeNetwork.NetworkEvent): Effect.Effect<ReadonlyArray<Emulator.WebhookPost>> => {
    const { message } = event
    if (message.business.toString() !== setup.business.toString() || message.chat.kind !== "phone") {
      return Effect.succeed([])
    }
    if (event._tag === "UserWrote") {
      return event.via !== undefined && event.via !== Api.provider ? Effect.succeed([]) : inbound(setup, message)
    }
    if (message.provider !== Api.provider || message.direction !== "outbound") return Effect.succeed([])
    if (event._tag === "Delivered") return Effect.succeed([statusPost(setup, message, "sent", message.at)])
    // Meta reports `played` for voice messages only.
    if (message.status === "played" && message.content.kind !== "audio") return Effect.succeed([])
    return Effect.map(Clock.currentTimeMillis, (now) => [statusPost(setup, message, message.status, now)])
  }

// Meta's verification of a webhook URL before it posts there.
const verifyWebhook = (client: HttpClient.HttpClient, verifyToken: string) => (url: string, token = verifyToken) =>
  Effect.gen(function*() {
    const challenge = digits()
    const request = HttpClientRequest.get(url).pipe(HttpClientRequest.setUrlParams({
      [Api.challengeParams.mode]: "subscribe",
      [Api.challengeParams.token]: token,
      [Api.challengeParams.challenge]: challenge
    }))
    const response = yield* client.execute(request)
    const body = yield* response.text
    return { status: response.status, body, verified: response.status === 200 && body === challenge }
  }).pipe(Effect.orDie)

/**
 * Starts the emulator on a free loopback port for the life of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Emulator.Constructor<Options, MetaEmulator> = (options = {}) =>
  Effect.gen(function*() {
    const setup: Setup = {
      network: yield* FakeNetwork.FakeNetwork,
      templates: options.templates,
      window: options.window,
      accessToken: options.accessToken ?? "meta-test-token",
      phoneNumberId: options.phoneNumberId ?? "106540352242922",
      wabaId: options.wabaId ?? "102290129340398",
      business: options.business ?? FakeNetwork.defaultBusiness,
      appSecret: options.appSecret ?? "meta-test-app-secret",
      errorStatus: options.errorStatus ?? 400,
      log: Emulator.requestLog(),
      media: new Map(),
      base: ""
    }
    const verifyToken = options.verifyToken ?? "meta-test-verify-token"
    const app = yield* Emulator.router([
      HttpRouter.route("POST", "/:version/:phoneNumberId/messages", messagesRoute(setup)),
      HttpRouter.route("POST", "/:version/:phoneNumberId/media", uploadRoute(setup)),
      HttpRouter.route("GET", "/lookaside/whatsapp_business/attachments", downloadRoute(setup)),
      HttpRouter.route("GET", "/:version/:mediaId", lookupRoute(setup))
    ])
    const emulator = yield* Emulator.make({
      provider: Api.provider,
      business: setup.business,
      app,
      port: options.port,
      log: setup.log,
      webhookUrl: options.webhookUrl,
      toWebhook: toWebhook(setup)
    })
    setup.base = emulator.url
    return {
      ...emulator,
      accessToken: setup.accessToken,
      phoneNumberId: setup.phoneNumberId,
      appSecret: setup.appSecret,
      verifyToken,
      verifyWebhook: verifyWebhook(yield* HttpClient.HttpClient, verifyToken)
    } satisfies MetaEmulator
  })

/**
 * The emulator as a layer, for tests and the example app: `layer(options)`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = Emulator.layer(MetaEmulator, make)
