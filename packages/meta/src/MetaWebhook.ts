/**
 * The Cloud API's inbound side.
 *
 * Verification: before it posts, Meta checks the webhook URL with
 * `GET ?hub.mode=subscribe&hub.verify_token=<yours>&hub.challenge=<n>`, answered with the challenge when
 * the token matches (403 when it does not, 400 without the parameters: the handler's `challenge`, which
 * `WebhookServer` serves on `GET /webhooks/meta`). Every post is signed: `X-Hub-Signature-256:
 * sha256=<hex HMAC-SHA256 of the raw body with the app secret>`, compared in constant time over the
 * bytes as received (a body re-serialised on the way does not verify).
 *
 * Decoding: each entry, each `messages` change, each message and each status is read on its own, and
 * each field too: what a part needs to be addressed (a message's `from`, `id` and `type`, a status's
 * `id` and `status`) is required, everything around it is dropped when odd (a `context` without an
 * `id`, as forwarded messages have, a timestamp of another type, a profile without a phone number, a
 * field Meta adds), and a message's content is read from the one field its `type` names. So one odd
 * field costs that field, never the message. Users' messages become `MessageReceived`: text, media (its
 * `url` when the delivery carries one, else the media id turned into a URL through the Graph API when a
 * resolver is configured; Meta's media URLs need the same bearer token and expire after minutes),
 * location, reactions, replies (`context.id`), and a tapped reply button or list row as the option's
 * text (what a choice waits for). `statuses` become `StatusChanged` (`sent`, `delivered`, `read`,
 * `played` for a voice message, `failed` with Meta's error: code, title, details). Errors of the whole
 * delivery (`value.errors`) and parts that cannot be addressed are logged and skipped: a message without
 * a phone number (a WhatsApp username, `from_user_id` alone) and a message in a group (`group_id`),
 * which this provider cannot answer. Messages that are events about the chat (`system`: a changed
 * number; `revoke`; `request_welcome`) give no events. A message of a type Parley does not read (or a
 * content field it cannot read) is kept as `UnavailableContent` with the reason. A verified delivery is
 * never refused for its shape.
 *
 * @since 0.1.0
 */
import { ChatId, InboundEvent, Webhook } from "@parley/core"
import { HttpTransport, ProviderWebhook, WireSchema } from "@parley/core/provider"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Api from "./MetaApi.js"

const { provider } = Api

/**
 * Turns a media id into where to download it (with the access token) and its type; `None` when it
 * cannot be looked up.
 *
 * @since 0.1.0
 * @category models
 */
export type MediaResolver = (
  mediaId: string
) => Effect.Effect<Option.Option<{ readonly url: string; readonly mimeType: string }>>

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The app secret, which signs every post. */
  readonly appSecret: Redacted.Redacted
  /** The verify token set in the app's webhook settings, echoed in the GET verification. */
  readonly verifyToken: Redacted.Redacted
  /** Looks up media ids (see {@link mediaResolver}); without one, media arrives without a URL. */
  readonly media?: MediaResolver | undefined
}

/**
 * A {@link MediaResolver} over the Graph API (`GET /{version}/{media-id}`) with the access token.
 * A lookup that fails is logged and gives `None`: the message is kept, without a URL.
 *
 * @since 0.1.0
 * @category constructors
 */
export const mediaResolver = (options: {
  readonly accessToken: Redacted.Redacted
  readonly baseUrl?: string | undefined
  readonly apiVersion?: string | undefined
}): Effect.Effect<MediaResolver, never, HttpClient.HttpClient> =>
  Effect.map(
    HttpTransport.make({
      provider,
      baseUrl: options.baseUrl ?? Api.defaultBaseUrl,
      authorize: HttpClientRequest.bearerToken(options.accessToken),
      timeout: "10 seconds"
    }),
    (api) => (mediaId) =>
      api.call(Api.mediaInfo, undefined, {
        path: Api.mediaInfoPath(options.apiVersion ?? Api.defaultApiVersion, mediaId)
      })
        .pipe(
          Effect.map((info) => Option.some({ url: info.url, mimeType: info.mime_type })),
          Effect.catch((error) =>
            Effect.as(Effect.logWarning(`meta webhook: media ${mediaId} not resolved: ${error.message}`), Option.none())
          ),
          Effect.withSpan("MetaWebhook.resolveMedia", { attributes: { "parley.provider": provider } })
        )
  )

const forbidden = (reason: string) => new Webhook.WebhookError({ provider, status: 403, reason })
const malformed = (reason: string) => new Webhook.WebhookError({ provider, status: 400, reason })

const challenge = (verifyToken: Redacted.Redacted) => (request: Webhook.WebhookRequest) => {
  const mode = request.query[Api.challengeParams.mode]
  const token = request.query[Api.challengeParams.token]
  const echo = request.query[Api.challengeParams.challenge]
  if (mode === undefined || token === undefined || echo === undefined) {
    return Effect.fail(malformed("a verification request needs hub.mode, hub.verify_token and hub.challenge"))
  }
  if (mode !== "subscribe") return Effect.fail(malformed(`hub.mode must be subscribe, not ${mode}`))
  return ProviderWebhook.matches(token, verifyToken)
    ? Effect.succeed(echo)
    : Effect.fail(forbidden("hub.verify_token does not match"))
}

// Every delivery is read one field at a time: what a message needs to be addressed (its sender and id)
// is required, and everything around it is `lenient` (dropped when odd), so that a field Meta omits,
// adds or shapes differently costs that field, never the message. The content is read from the one
// field its `type` names.
const { lenient } = ProviderWebhook
const text = lenient(Schema.String)

const decodeBody = ProviderWebhook.decodeShape(
  Schema.Struct({ object: Schema.String, entry: Schema.Array(Schema.Unknown) })
)
const decodeEntry = ProviderWebhook.decodeShape(Schema.Struct({ changes: Schema.Array(Schema.Unknown) }))
const decodeChange = ProviderWebhook.decodeShape(Schema.Struct({ field: Schema.String, value: Schema.Unknown }))
const decodeValue = ProviderWebhook.decodeShape(Schema.Struct({
  contacts: lenient(Schema.Array(Schema.Unknown)),
  messages: lenient(Schema.Array(Schema.Unknown)),
  statuses: lenient(Schema.Array(Schema.Unknown)),
  errors: lenient(Schema.Array(Schema.Unknown))
}))
const decodeContact = ProviderWebhook.decodeShape(Schema.Struct({
  profile: lenient(Schema.Struct({ name: text })),
  wa_id: text
}))

// A forwarded message's context has no `id`: it replies to nothing.
const Context = Schema.Struct({ id: text })
// What a message needs to be addressed; its content is read on its own.
const decodeHead = ProviderWebhook.decodeShape(Schema.Struct({
  from: Schema.String,
  id: Schema.String,
  timestamp: lenient(WireSchema.LooseNumber),
  type: Schema.String,
  context: lenient(Context),
  group_id: text
}))
const decodeUsername = ProviderWebhook.decodeShape(Schema.Struct({ from_user_id: Schema.String }))

const WebhookError = Schema.Struct({
  code: Schema.Number,
  title: text,
  message: text,
  error_data: lenient(Schema.Struct({ details: text }))
})
const decodeError = ProviderWebhook.decodeShape(WebhookError)
const decodeErrors = ProviderWebhook.decodeShape(Schema.Struct({ errors: lenient(Schema.Array(Schema.Unknown)) }))

const Media = Schema.Struct({
  id: Schema.String,
  mime_type: text,
  caption: text,
  filename: text,
  url: text
})
const Reply = Schema.Struct({ id: Schema.String, title: Schema.String })

// The field each type carries its content in, read with its own schema (and named in a failure).
const content = <A, I>(type: string, schema: Schema.Codec<A, I, never, unknown>) =>
  ProviderWebhook.decodeShape(schema, [type])
const contentDecoders = {
  text: content("text", Schema.Struct({ body: Schema.String })),
  image: content("image", Media),
  video: content("video", Media),
  audio: content("audio", Media),
  document: content("document", Media),
  sticker: content("sticker", Media),
  location: content(
    "location",
    Schema.Struct({ latitude: WireSchema.LooseNumber, longitude: WireSchema.LooseNumber, name: text, address: text })
  ),
  reaction: content("reaction", Schema.Struct({ message_id: Schema.String, emoji: text })),
  interactive: content(
    "interactive",
    Schema.Struct({
      type: text,
      button_reply: lenient(Reply),
      list_reply: lenient(Reply),
      nfm_reply: lenient(Schema.Struct({ name: text }))
    })
  ),
  button: content("button", Schema.Struct({ text: Schema.String })),
  unsupported: content("unsupported", Schema.Struct({ type: text }))
}
type ContentType = keyof typeof contentDecoders

const decodeStatus = ProviderWebhook.decodeShape(Schema.Struct({
  id: Schema.String,
  status: Schema.String,
  timestamp: lenient(WireSchema.LooseNumber),
  recipient_id: text,
  errors: lenient(Schema.Array(Schema.Unknown))
}))

/**
 * An error as one line: `Message undeliverable (131026): <details>`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const describeError = (error: {
  readonly code: number
  readonly title?: string | undefined
  readonly message?: string | undefined
  readonly error_data?: { readonly details?: string | undefined } | undefined
}): string => {
  const title = error.title ?? error.message ?? "error"
  const details = error.error_data?.details
  return `${title} (${error.code})${details && details !== title ? `: ${details}` : ""}`
}

// The first error of a list Meta attached, as one line, when it can be read.
const firstError = (errors: ReadonlyArray<unknown> | undefined): string | undefined => {
  const [first] = errors ?? []
  return first === undefined ? undefined : Result.match(decodeError(first), {
    onFailure: () => undefined,
    onSuccess: describeError
  })
}

const deliveryStatuses: Record<string, InboundEvent.DeliveryStatus> = {
  sent: "sent",
  delivered: "delivered",
  read: "read",
  played: "played",
  failed: "failed"
}

// Messages that are events about the chat, not something a user said: a changed number or identity,
// a message deleted, a chat opened for the first time. Parley does not use them.
const notMessages = new Set(["system", "revoke", "request_welcome"])

const mediaKinds = ["image", "video", "audio", "document", "sticker"] as const

type Resolve = (mediaId: string) => Effect.Effect<Option.Option<{ readonly url: string; readonly mimeType: string }>>

const isObject = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const unavailable = (reason: string) => Effect.succeed(new InboundEvent.UnavailableContent({ reason }))

const contentOf = (
  raw: Readonly<Record<string, unknown>>,
  type: string,
  resolve: Resolve
): Effect.Effect<InboundEvent.Content> => {
  if (!Object.hasOwn(contentDecoders, type) || type === "unsupported") {
    const error = Result.match(decodeErrors(raw), {
      onFailure: () => undefined,
      onSuccess: (m) => firstError(m.errors)
    })
    const unsupported = Result.getOrUndefined(contentDecoders.unsupported(raw.unsupported))?.type
    return unavailable(error ?? `a message of type ${unsupported ?? type}, which Parley does not read`)
  }
  const field = raw[type]
  const kind = mediaKinds.find((k) => k === type)
  if (field === undefined) {
    const missing = new Map([
      ["text", "a text message without text"],
      ["location", "a location message without a location"],
      ["reaction", "a reaction without its target"],
      ["interactive", "an interactive message Parley does not read"],
      ["button", "a template button reply without its text"]
    ])
    const error = Result.match(decodeErrors(raw), {
      onFailure: () => undefined,
      onSuccess: (m) => firstError(m.errors)
    })
    return unavailable(
      error ?? missing.get(type) ?? `a ${type} message without its ${type}`
    )
  }
  if (kind !== undefined) {
    return Result.match(contentDecoders[kind](field), {
      onFailure: unavailable,
      onSuccess: (media) => {
        const of = (url: string | undefined, mimeType: string | undefined) =>
          new InboundEvent.MediaContent({
            kind,
            url,
            mimeType: media.mime_type ?? mimeType,
            filename: media.filename,
            caption: media.caption
          })
        // A delivery that carries the download URL needs no lookup.
        return media.url !== undefined
          ? Effect.succeed(of(media.url, undefined))
          : Effect.map(resolve(media.id), (resolved) =>
            Option.match(resolved, {
              onNone: () => of(undefined, undefined),
              onSome: (r) => of(r.url, r.mimeType)
            }))
      }
    })
  }
  switch (type as Exclude<ContentType, typeof mediaKinds[number] | "unsupported">) {
    case "text":
      return Result.match(contentDecoders.text(field), {
        onFailure: unavailable,
        onSuccess: (t) => Effect.succeed(new InboundEvent.TextContent({ text: t.body }))
      })
    case "location":
      return Result.match(contentDecoders.location(field), {
        onFailure: unavailable,
        onSuccess: (l) => Effect.succeed(new InboundEvent.LocationContent(l))
      })
    case "reaction":
      return Result.match(contentDecoders.reaction(field), {
        onFailure: unavailable,
        onSuccess: (r) =>
          Effect.succeed(new InboundEvent.ReactionContent({ messageId: r.message_id, emoji: r.emoji ?? "" }))
      })
    case "interactive":
      // A tapped button or row is an answer: its title, as a choice reads it.
      return Result.match(contentDecoders.interactive(field), {
        onFailure: unavailable,
        onSuccess: (i) => {
          const reply = i.button_reply ?? i.list_reply
          if (reply) return Effect.succeed(new InboundEvent.TextContent({ text: reply.title }))
          return unavailable(
            i.nfm_reply
              ? "a WhatsApp Flow's answer (nfm_reply), which Parley does not read"
              : `an interactive ${i.type ?? "message"} Parley does not read`
          )
        }
      })
    case "button":
      return Result.match(contentDecoders.button(field), {
        onFailure: unavailable,
        onSuccess: (b) => Effect.succeed(new InboundEvent.TextContent({ text: b.text }))
      })
    default:
      return unavailable(`a message of type ${type}, which Parley does not read`)
  }
}

// Meta's unix seconds as a `Date`, unless they are not a usable time: an event's schema refuses an
// `Invalid Date`, so such an event is dated when it arrives.
const dateAt = (seconds: number | undefined): Date | undefined => {
  if (seconds === undefined) return undefined
  const date = new Date(seconds * 1000)
  return Number.isNaN(date.getTime()) ? undefined : date
}

const messageEvents = (
  raw: unknown,
  at: string,
  names: ReadonlyMap<string, string>,
  resolve: Resolve
): Effect.Effect<ReadonlyArray<InboundEvent.InboundEvent>> => {
  const head = decodeHead(raw)
  if (Result.isFailure(head)) {
    const username = decodeUsername(raw)
    return ProviderWebhook.skip(
      provider,
      Result.isSuccess(username) && !(isObject(raw) && "from" in raw)
        ? `${at}: a message from ${username.success.from_user_id}, a WhatsApp username without a phone number, which Parley cannot address yet`
        : `${at}: ${head.failure}`
    )
  }
  const { context, from, group_id, id, timestamp, type } = head.success
  if (notMessages.has(type)) return Effect.succeed([])
  if (group_id !== undefined) {
    return ProviderWebhook.skip(
      provider,
      `${at}: a message in group ${group_id}, which Parley's Meta provider does not address (replies would go to the sender alone)`
    )
  }
  const chat = ChatId.parse(from)
  if (Result.isFailure(chat)) return ProviderWebhook.skip(provider, `${at}.from: ${chat.failure.reason}`)
  return Effect.zipWith(
    contentOf(raw as Readonly<Record<string, unknown>>, type, resolve),
    Clock.currentTimeMillis,
    (content, now) => [
      new InboundEvent.MessageReceived({
        provider,
        eventId: `message:${id}`,
        messageId: id,
        chat: chat.success,
        sender: chat.success,
        senderName: names.get(from),
        content,
        // A forwarded message has a context without an id: it replies to nothing.
        replyTo: context?.id,
        at: dateAt(timestamp) ?? new Date(now)
      })
    ]
  )
}

const statusEvents = (raw: unknown, at: string): Effect.Effect<ReadonlyArray<InboundEvent.InboundEvent>> => {
  const decoded = decodeStatus(raw)
  if (Result.isFailure(decoded)) return ProviderWebhook.skip(provider, `${at}: ${decoded.failure}`)
  const status = decoded.success
  const delivery = deliveryStatuses[status.status]
  if (delivery === undefined) return Effect.succeed([])
  const events = (time: Date) => [
    new InboundEvent.StatusChanged({
      provider,
      eventId: `status:${status.id}:${status.status}`,
      messageId: status.id,
      // A group's id is not a phone number: no chat then.
      chat: status.recipient_id === undefined ? undefined : Result.getOrUndefined(ChatId.parse(status.recipient_id)),
      status: delivery,
      error: delivery === "failed" ? (firstError(status.errors) ?? "failed") : undefined,
      at: time
    })
  ]
  const time = dateAt(status.timestamp)
  return time === undefined
    ? Effect.map(Clock.currentTimeMillis, (now) => events(new Date(now)))
    : Effect.succeed(events(time))
}

const changeEvents = (
  value: unknown,
  at: string,
  resolve: Resolve
): Effect.Effect<ReadonlyArray<InboundEvent.InboundEvent>> => {
  const decoded = decodeValue(value)
  if (Result.isFailure(decoded)) return ProviderWebhook.skip(provider, `${at}: ${decoded.failure}`)
  const { contacts, errors, messages, statuses } = decoded.success
  // Each profile on its own: one without a phone number (a username) costs its name only.
  const names = new Map<string, string>()
  for (const raw of contacts ?? []) {
    const contact = decodeContact(raw)
    if (Result.isSuccess(contact) && contact.success.wa_id && contact.success.profile?.name) {
      names.set(contact.success.wa_id, contact.success.profile.name)
    }
  }
  // Errors of the whole delivery concern no message: logged, nothing to hand on.
  const reported = Effect.forEach(errors ?? [], (raw, i) =>
    ProviderWebhook.skip(
      provider,
      `${at}.errors.${i}: ${
        Result.match(decodeError(raw), { onFailure: (reason) => reason, onSuccess: describeError })
      }`
    ))
  return Effect.zipWith(
    reported,
    Effect.all([
      Effect.forEach(messages ?? [], (raw, i) => messageEvents(raw, `${at}.messages.${i}`, names, resolve)),
      Effect.forEach(statuses ?? [], (raw, i) => statusEvents(raw, `${at}.statuses.${i}`))
    ]),
    (_, [received, changed]) => [...received.flat(), ...changed.flat()]
  )
}

const entryEvents = (
  raw: unknown,
  at: string,
  resolve: Resolve
): Effect.Effect<ReadonlyArray<InboundEvent.InboundEvent>> => {
  const entry = decodeEntry(raw)
  if (Result.isFailure(entry)) return ProviderWebhook.skip(provider, `${at}: ${entry.failure}`)
  return Effect.map(
    Effect.forEach(entry.success.changes, (raw, c) => {
      const change = decodeChange(raw)
      if (Result.isFailure(change)) return ProviderWebhook.skip(provider, `${at}.changes.${c}: ${change.failure}`)
      return change.success.field === "messages"
        ? changeEvents(change.success.value, `${at}.changes.${c}.value`, resolve)
        : Effect.succeed([])
    }),
    (events) => events.flat()
  )
}

const noMedia: Resolve = () => Effect.succeedNone

/**
 * The handler: signature over the raw bytes, the GET verification, tolerant decoding.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Webhook.WebhookHandler => {
  const parse = ProviderWebhook.parseJson(provider)
  const resolve = options.media ?? noMedia
  return {
    provider,
    verify: ProviderWebhook.verifyHmac(provider, Api.signature(options.appSecret)),
    challenge: challenge(options.verifyToken),
    decode: (request) =>
      Effect.flatMap(parse(request.body), (json) => {
        const body = decodeBody(json)
        if (Result.isFailure(body)) return ProviderWebhook.skip(provider, body.failure)
        return Effect.map(
          Effect.forEach(body.success.entry, (entry, e) => entryEvents(entry, `entry.${e}`, resolve)),
          (events) => events.flat()
        )
      })
  }
}

/**
 * The settings of {@link makeConfig}: the handler's secrets, and the Graph API access for media.
 *
 * @since 0.1.0
 * @category config
 */
export interface Settings {
  readonly appSecret: Redacted.Redacted
  readonly verifyToken: Redacted.Redacted
  readonly media: Option.Option<Parameters<typeof mediaResolver>[0]>
}

/**
 * `PARLEY_META_APP_SECRET` and `PARLEY_META_VERIFY_TOKEN`; media ids are resolved with
 * `PARLEY_META_ACCESS_TOKEN` (and `PARLEY_META_BASE_URL`, `PARLEY_META_API_VERSION`) when it is set.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Settings> = Config.all({
  appSecret: Config.Redacted("PARLEY_META_APP_SECRET"),
  verifyToken: Config.Redacted("PARLEY_META_VERIFY_TOKEN"),
  media: Config.option(Config.all({
    accessToken: Config.Redacted("PARLEY_META_ACCESS_TOKEN"),
    baseUrl: Config.withDefault(Config.String("PARLEY_META_BASE_URL"), Api.defaultBaseUrl),
    apiVersion: Config.withDefault(Config.String("PARLEY_META_API_VERSION"), Api.defaultApiVersion)
  }))
})

/**
 * The handler, with options from `Config` (by default {@link config}), resolving media through the
 * `HttpClient` in context when an access token is configured.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeConfig = (
  options: Config.Config<Settings> = config
): Effect.Effect<Webhook.WebhookHandler, Config.ConfigError, HttpClient.HttpClient> =>
  Effect.flatMap(options, ({ appSecret, media, verifyToken }) =>
    Effect.map(
      Option.match(media, { onNone: () => Effect.succeed(undefined), onSome: mediaResolver }),
      (resolver) => make({ appSecret, verifyToken, media: resolver })
    ))
