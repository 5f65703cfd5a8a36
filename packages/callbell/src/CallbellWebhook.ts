/**
 * Callbell's inbound side: `{ event, payload }` webhooks decoded into core `InboundEvent`s.
 *
 * - `message_created` with `status: "received"` becomes `MessageReceived` (text, attachments by URL,
 *   `messageLocation`, replies via `messageContext`/`mesageContext`); our own messages (`"sent"`) are
 *   ignored.
 * - `message_status_updated` becomes `StatusChanged` for `sent`/`delivered`/`read`/`failed`
 *   (`enqueued`, `mismatch` and `deleted` are dropped).
 * - Other events, an empty body or one without `event` (Callbell's liveness checks) give no events.
 *
 * Verification: Callbell signs nothing by default, so the webhook URL carries a secret token
 * (`/webhooks/callbell/<token>`). When a signing secret (`whsec_…`) has been generated in the dashboard,
 * `X-Callbell-Signature` (`t=…,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`) is checked as well, with a
 * 5-minute tolerance on `t`.
 *
 * @since 0.1.0
 */
import { ChatId, InboundEvent, Webhook } from "@parley/core"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { createHash, timingSafeEqual } from "node:crypto"
import * as Api from "./CallbellApi.js"
import { deliveryStatus, failureReason, provider } from "./CallbellMessaging.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The secret token expected as the last path segment of the webhook URL. */
  readonly token?: Redacted.Redacted | undefined
  /** The webhook signing secret (`whsec_…`): requests must then carry a valid `X-Callbell-Signature`. */
  readonly secret?: Redacted.Redacted | undefined
  /** How far a signature's timestamp may be from now (default 5 minutes, as the docs advise). */
  readonly tolerance?: Duration.DurationInput | undefined
}

const digest = (secret: Redacted.Redacted, timestamp: number, body: Uint8Array | string) =>
  Webhook.sign(
    { secret, header: Api.signatureHeader, algorithm: "sha256" },
    Buffer.concat([Buffer.from(`${timestamp}.`), Buffer.from(body)])
  )

/**
 * The `X-Callbell-Signature` value Callbell sends for `body` at `timestamp` (unix seconds).
 *
 * @since 0.1.0
 * @category signing
 */
export const sign = (secret: Redacted.Redacted, timestamp: number, body: Uint8Array | string): string =>
  `t=${timestamp},v1=${digest(secret, timestamp, body)}`

const unauthorized = (reason: string) => new Webhook.WebhookError({ provider, status: 401, reason })

const verifySignature =
  (secret: Redacted.Redacted, tolerance: Duration.Duration) => (request: Webhook.WebhookRequest) =>
    Effect.gen(function*() {
      const header = request.headers[Api.signatureHeader.toLowerCase()]
      if (header === undefined || header.length === 0) {
        return yield* unauthorized(`missing signature header ${Api.signatureHeader}`)
      }
      const parts = header.split(",").map((part) => {
        const at = part.indexOf("=")
        return [part.slice(0, at).trim(), part.slice(at + 1).trim()] as const
      })
      const timestamp = parts.find(([key]) => key === "t")?.[1] ?? ""
      const signatures = parts.filter(([key]) => key === "v1").map(([, value]) => Buffer.from(value.toLowerCase()))
      if (!/^\d+$/.test(timestamp) || signatures.length === 0) {
        return yield* unauthorized(`${Api.signatureHeader} is not of the form t=<seconds>,v1=<hex>`)
      }
      const now = yield* Clock.currentTimeMillis
      if (Math.abs(now - Number(timestamp) * 1000) > Duration.toMillis(tolerance)) {
        return yield* unauthorized(`signature timestamp is more than ${Duration.format(tolerance)} from now`)
      }
      const expected = Buffer.from(digest(secret, Number(timestamp), request.body))
      if (!signatures.some((given) => given.length === expected.length && timingSafeEqual(given, expected))) {
        return yield* unauthorized(`signature in ${Api.signatureHeader} does not match the body`)
      }
    })

const extensions: Record<string, InboundEvent.MediaContent["kind"]> = {
  jpg: "image",
  jpeg: "image",
  png: "image",
  gif: "image",
  webp: "sticker",
  mp4: "video",
  "3gp": "video",
  mov: "video",
  ogg: "audio",
  oga: "audio",
  opus: "audio",
  mp3: "audio",
  m4a: "audio",
  aac: "audio",
  amr: "audio",
  wav: "audio"
}

const lastSegment = (url: string): string => {
  let path = url
  try {
    path = new URL(url).pathname
  } catch {
    // not absolute: read the string as a path
  }
  return decodeURIComponent(path.split("/").pop() ?? "")
}

/**
 * The kind of an attachment, from its URL's extension (Callbell gives attachments as bare URLs):
 * images, `webp` stickers, video, audio, else a document.
 *
 * @since 0.1.0
 * @category decoding
 */
export const attachmentKind = (url: string): InboundEvent.MediaContent["kind"] => {
  const name = lastSegment(url)
  const dot = name.lastIndexOf(".")
  return (dot === -1 ? undefined : extensions[name.slice(dot + 1).toLowerCase()]) ?? "document"
}

type Created = typeof Api.MessageCreatedPayload.Type

// The documented `message_created` payload has no message id: without the (inferred) `uuid`, the id is
// a digest of what identifies the message, so a redelivery gets the same id and is deduplicated.
const derivedId = (p: Created) =>
  `derived_${
    createHash("sha256").update(JSON.stringify([
      p.from,
      p.createdAt,
      p.text,
      p.attachments,
      p.messageLocation?.coordinates
    ])).digest("hex").slice(0, 32)
  }`

const contentsOf = (p: Created): ReadonlyArray<InboundEvent.Content> => {
  const target = p.messageReaction?.target?.uuid
  if (p.messageReaction && target) {
    return [new InboundEvent.ReactionContent({ messageId: target, emoji: p.messageReaction.emoji })]
  }
  if (p.messageLocation) {
    const { x, y } = p.messageLocation.coordinates
    return [new InboundEvent.LocationContent({ latitude: x, longitude: y })]
  }
  const attachments = p.attachments ?? []
  if (attachments.length > 0) {
    return attachments.map((url, index) => {
      const filename = lastSegment(url)
      return new InboundEvent.MediaContent({
        kind: attachmentKind(url),
        url,
        filename: filename.includes(".") ? filename : undefined,
        caption: index === 0 && p.text ? p.text : undefined
      })
    })
  }
  return p.text ? [new InboundEvent.TextContent({ text: p.text })] : []
}

const timeOf = (iso: string | null | undefined, now: number) => {
  const parsed = iso ? Date.parse(iso) : Number.NaN
  return new Date(Number.isNaN(parsed) ? now : parsed)
}

const received = (
  p: Created,
  now: number
): Either.Either<ReadonlyArray<InboundEvent.InboundEvent>, Webhook.WebhookError> =>
  Either.gen(function*() {
    if (p.status !== "received") return []
    const chat = yield* Either.mapLeft(
      ChatId.parse(p.from),
      (error) =>
        new Webhook.WebhookError({
          provider,
          status: 400,
          reason: `payload.from: ${error.reason} (${JSON.stringify(p.from)})`
        })
    )
    const messageId = p.uuid ?? derivedId(p)
    const replyTo = (p.messageContext ?? p.mesageContext)?.target?.uuid ?? undefined
    const contents = contentsOf(p)
    return contents.map((content, index) =>
      new InboundEvent.MessageReceived({
        provider,
        eventId: contents.length === 1 ? `message_created:${messageId}` : `message_created:${messageId}:${index}`,
        messageId,
        chat,
        sender: chat,
        senderName: p.contact?.name ?? undefined,
        content,
        replyTo,
        at: timeOf(p.createdAt, now)
      }, true)
    )
  })

const statusChanged = (
  p: typeof Api.MessageStatusUpdatedPayload.Type,
  now: number
): ReadonlyArray<InboundEvent.InboundEvent> => {
  const status = deliveryStatus(p.status)
  if (status === undefined) return []
  const destination = p.messageStatusPayload?.destination ?? p.contact?.phoneNumber
  const ts = p.messageStatusPayload?.payload?.ts
  return [
    new InboundEvent.StatusChanged({
      provider,
      eventId: `message_status_updated:${p.uuid}:${p.status}`,
      messageId: p.uuid,
      chat: destination ? Either.getOrUndefined(ChatId.parse(destination)) : undefined,
      status,
      error: status === "failed" ? failureReason(p.messageStatusPayload) : undefined,
      at: new Date(ts === undefined ? now : ts * 1000)
    }, true)
  ]
}

const decodeEnvelope = Webhook.decodeJson(provider, Api.WebhookEnvelope)
const decodeCreated = Webhook.decodeJson(provider, Api.MessageCreatedEvent)
const decodeStatusUpdated = Webhook.decodeJson(provider, Api.MessageStatusUpdatedEvent)

const isBlank = (body: Uint8Array) =>
  body.every((byte) => byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d)

const decode = (
  request: Webhook.WebhookRequest
): Effect.Effect<ReadonlyArray<InboundEvent.InboundEvent>, Webhook.WebhookError> =>
  isBlank(request.body) ? Effect.succeed([]) : Effect.gen(function*() {
    const { event } = yield* decodeEnvelope(request.body)
    const now = yield* Clock.currentTimeMillis
    switch (event) {
      case "message_created":
        return yield* received((yield* decodeCreated(request.body)).payload, now)
      case "message_status_updated":
        return statusChanged((yield* decodeStatusUpdated(request.body)).payload, now)
      default:
        return []
    }
  })

/**
 * The handler. With neither a token nor a secret configured, every request is refused.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Webhook.WebhookHandler => {
  const checks = [
    ...(options.secret ? [verifySignature(options.secret, Duration.decode(options.tolerance ?? "5 minutes"))] : []),
    ...(options.token ? [Webhook.verifyToken(provider, { token: options.token })] : [])
  ]
  return {
    provider,
    verify: checks.length === 0
      ? Webhook.verification(provider, {})
      : (request) => Effect.forEach(checks, (check) => check(request), { discard: true }),
    decode
  }
}

/**
 * `PARLEY_CALLBELL_WEBHOOK_TOKEN` (the URL token) and `PARLEY_CALLBELL_WEBHOOK_SECRET` (the signing
 * secret), both optional; set at least one.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  token: Config.option(Config.redacted("PARLEY_CALLBELL_WEBHOOK_TOKEN")),
  secret: Config.option(Config.redacted("PARLEY_CALLBELL_WEBHOOK_SECRET"))
}).pipe(Config.map(({ secret, token }) => ({
  token: Option.getOrUndefined(token),
  secret: Option.getOrUndefined(secret)
})))

/**
 * The handler, with options from `Config` (by default {@link config}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeConfig = (options: Config.Config<Options> = config) => Effect.map(options, make)
