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
 * Decoding: each `messages` change of each entry is read on its own. Users' messages become
 * `MessageReceived`: text, media (the media id turned into a URL through the Graph API when a resolver
 * is configured; Meta's media URLs need the same bearer token and expire after minutes), location,
 * reactions, replies (`context`), and a tapped reply button or list row as the option's text (what a
 * choice waits for). `statuses` become `StatusChanged` (`failed` with Meta's error: code, title,
 * details). Errors of the whole delivery (`value.errors`) and parts that cannot be addressed are logged
 * and skipped; a message of a type Parley does not read is kept as `UnavailableContent`. A verified
 * delivery is never refused for its shape.
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

const decodeBody = ProviderWebhook.decodeShape(Api.WebhookBody)
const decodeValue = ProviderWebhook.decodeShape(
  Schema.Struct({
    metadata: Api.Value.fields.metadata,
    contacts: ProviderWebhook.lenient(Schema.Array(Api.Contact)),
    messages: Schema.optional(Schema.Array(Schema.Unknown)),
    statuses: Schema.optional(Schema.Array(Schema.Unknown)),
    errors: Schema.optional(Schema.Array(Schema.Unknown))
  })
)
// What a message needs to be addressed; its content is read on its own.
const decodeHead = ProviderWebhook.decodeShape(Schema.Struct({
  from: Schema.String,
  id: Schema.String,
  timestamp: ProviderWebhook.lenient(WireSchema.NumberFromString),
  type: Schema.String,
  context: ProviderWebhook.lenient(Api.Context)
}))
const decodeMessage = ProviderWebhook.decodeShape(Api.InboundMessage)
const decodeStatus = ProviderWebhook.decodeShape(Api.Status)
const decodeError = ProviderWebhook.decodeShape(Api.WebhookError)

/**
 * An error as one line: `Message undeliverable (131026): <details>`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const describeError = (error: Api.WebhookError): string => {
  const title = error.title ?? error.message ?? "error"
  const details = error.error_data?.details
  return `${title} (${error.code})${details && details !== title ? `: ${details}` : ""}`
}

const deliveryStatuses: Record<string, InboundEvent.DeliveryStatus> = {
  sent: "sent",
  delivered: "delivered",
  read: "read",
  failed: "failed"
}

const mediaKinds = ["image", "video", "audio", "document", "sticker"] as const

type Resolve = (mediaId: string) => Effect.Effect<Option.Option<{ readonly url: string; readonly mimeType: string }>>

const contentOf = (
  message: Api.InboundMessage,
  resolve: Resolve
): Effect.Effect<InboundEvent.Content> => {
  const unavailable = (reason: string) => Effect.succeed(new InboundEvent.UnavailableContent({ reason }))
  const kind = mediaKinds.find((k) => k === message.type)
  if (kind !== undefined) {
    const found = message[kind]
    if (found === undefined) return unavailable(`a ${kind} message without its ${kind}`)
    return Effect.map(resolve(found.id), (resolved) =>
      new InboundEvent.MediaContent({
        kind,
        url: Option.getOrUndefined(Option.map(resolved, (r) => r.url)),
        mimeType: found.mime_type ?? Option.getOrUndefined(Option.map(resolved, (r) => r.mimeType)),
        filename: found.filename,
        caption: found.caption
      }))
  }
  switch (message.type) {
    case "text":
      return message.text
        ? Effect.succeed(new InboundEvent.TextContent({ text: message.text.body }))
        : unavailable("a text message without text")
    case "location":
      return message.location
        ? Effect.succeed(new InboundEvent.LocationContent(message.location))
        : unavailable("a location message without a location")
    case "reaction":
      return message.reaction
        ? Effect.succeed(
          new InboundEvent.ReactionContent({
            messageId: message.reaction.message_id,
            emoji: message.reaction.emoji ?? ""
          })
        )
        : unavailable("a reaction without its target")
    case "interactive": {
      // A tapped button or row is an answer: its title, as a choice reads it.
      const reply = message.interactive?.button_reply ?? message.interactive?.list_reply
      return reply
        ? Effect.succeed(new InboundEvent.TextContent({ text: reply.title }))
        : unavailable(`an interactive ${message.interactive?.type ?? "message"} Parley does not read`)
    }
    case "button":
      return message.button
        ? Effect.succeed(new InboundEvent.TextContent({ text: message.button.text }))
        : unavailable("a template button reply without its text")
    default: {
      const [error] = message.errors ?? []
      return unavailable(
        error
          ? describeError(error)
          : `a ${message.unsupported?.type ?? message.type} message, which Parley does not read`
      )
    }
  }
}

// Meta's unix seconds as a `Date`, unless they are not a usable time: an event's schema refuses an
// `Invalid Date`, so such an event is dated when it arrives.
const dateAt = (seconds: number): Date | undefined => {
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
  if (Result.isFailure(head)) return ProviderWebhook.skip(provider, `${at}: ${head.failure}`)
  const { context, from, id, timestamp } = head.success
  const chat = ChatId.parse(from)
  if (Result.isFailure(chat)) return ProviderWebhook.skip(provider, `${at}.from: ${chat.failure.reason}`)
  const message = decodeMessage(raw)
  const content = Result.match(message, {
    onFailure: (reason) => Effect.succeed<InboundEvent.Content>(new InboundEvent.UnavailableContent({ reason })),
    onSuccess: (message) => contentOf(message, resolve)
  })
  return Effect.zipWith(content, Clock.currentTimeMillis, (content, now) => [
    new InboundEvent.MessageReceived({
      provider,
      eventId: `message:${id}`,
      messageId: id,
      chat: chat.success,
      sender: chat.success,
      senderName: names.get(from),
      content,
      replyTo: context?.id,
      at: (timestamp === undefined ? undefined : dateAt(timestamp)) ?? new Date(now)
    })
  ])
}

const statusEvents = (raw: unknown, at: string): Effect.Effect<ReadonlyArray<InboundEvent.InboundEvent>> => {
  const decoded = decodeStatus(raw)
  if (Result.isFailure(decoded)) return ProviderWebhook.skip(provider, `${at}: ${decoded.failure}`)
  const status = decoded.success
  const delivery = deliveryStatuses[status.status]
  if (delivery === undefined) return Effect.succeed([])
  const [error] = status.errors ?? []
  const events = (time: Date) => [
    new InboundEvent.StatusChanged({
      provider,
      eventId: `status:${status.id}:${status.status}`,
      messageId: status.id,
      chat: Result.getOrUndefined(ChatId.parse(status.recipient_id)),
      status: delivery,
      error: delivery === "failed" ? (error ? describeError(error) : "failed") : undefined,
      at: time
    })
  ]
  const time = dateAt(Number(status.timestamp))
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
  const names = new Map((contacts ?? []).flatMap((c) => c.profile?.name ? [[c.wa_id, c.profile.name] as const] : []))
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
          Effect.forEach(body.success.entry, (entry, e) =>
            Effect.forEach(
              entry.changes,
              (change, c) =>
                change.field === "messages"
                  ? changeEvents(change.value, `entry.${e}.changes.${c}.value`, resolve)
                  : Effect.succeed([])
            )),
          (events) => events.flat(2)
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
