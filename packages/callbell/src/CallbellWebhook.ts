/**
 * Callbell's inbound side: `{ event, payload }` webhooks decoded into core `InboundEvent`s.
 *
 * - `message_created` with `status: "received"` becomes `MessageReceived` (text, attachments by URL,
 *   `messageLocation`, replies via `messageContext`/`mesageContext`); our own messages (`"sent"`) are
 *   ignored.
 * - `message_status_updated` becomes `StatusChanged` for `sent`/`delivered`/`read`/`failed`
 *   (`enqueued`, `mismatch` and `deleted` are dropped).
 * - Other events, an empty body or one without `event` (Callbell's liveness checks) give no events.
 * - A verified delivery is never refused for its shape: a received message whose content cannot be read
 *   is kept with `UnavailableContent`; one that cannot be addressed (no readable `from`), or a status
 *   update without `uuid`, is logged and skipped. Only a body that is not JSON is a 400.
 *
 * Verification: Callbell signs nothing by default, so the webhook URL carries a secret token
 * (`/webhooks/callbell/<token>`). When a signing secret (`whsec_…`) has been generated in the dashboard,
 * `X-Callbell-Signature` (`t=…,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`) is checked as well, with a
 * 5-minute tolerance on `t`.
 *
 * @since 0.1.0
 */
import { ChatId, InboundEvent, Webhook } from "@parley/core"
import { ProviderWebhook } from "@parley/core/provider"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { createHash, timingSafeEqual } from "node:crypto"
import * as Api from "./CallbellApi.js"

const { attachmentKind, attachmentName, deliveryStatus, digest, failureReason, provider } = Api

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
  readonly tolerance?: Duration.Input | undefined
}

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

type Created = typeof Api.MessageCreatedPayload.Type

const digestOf = (value: unknown) =>
  `derived_${createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 32)}`

// The documented `message_created` payload has no message id: without the (inferred) `uuid`, the id is
// a digest of what identifies the message, so a redelivery gets the same id and is deduplicated.
const derivedId = (p: Created) => digestOf([p.from, p.createdAt, p.text, p.attachments, p.messageLocation?.coordinates])

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
      const filename = attachmentName(url)
      return new InboundEvent.MediaContent({
        kind: attachmentKind(url),
        url,
        filename: filename.includes(".") ? filename : undefined,
        caption: index === 0 && p.text ? p.text : undefined
      })
    })
  }
  if (p.text) return [new InboundEvent.TextContent({ text: p.text })]
  return [
    new InboundEvent.UnavailableContent({
      reason: "no text, attachment, location or reaction (a contact card, a button reply, …)"
    })
  ]
}

// A valid date: an event's time is a valid `Date` (its schema refuses `Invalid Date`), now when the
// payload's is unreadable.
const dateOf = (millis: number, now: number) => {
  const date = new Date(millis)
  return Number.isNaN(date.getTime()) ? new Date(now) : date
}

const timeOf = (iso: string | null | undefined, now: number) => dateOf(iso ? Date.parse(iso) : Number.NaN, now)

// What a received message needs to be addressed; its content is read separately.
const CreatedHead = Schema.Struct({
  uuid: ProviderWebhook.lenient(Schema.String),
  from: Schema.String,
  status: Schema.String,
  createdAt: ProviderWebhook.lenient(Schema.String),
  contact: ProviderWebhook.lenient(Schema.Struct({ name: ProviderWebhook.lenient(Schema.String) }))
})

const StatusHead = Schema.Struct({
  uuid: Schema.String,
  status: Schema.String,
  contact: ProviderWebhook.lenient(Schema.Struct({ phoneNumber: ProviderWebhook.lenient(Schema.String) })),
  messageStatusPayload: ProviderWebhook.lenient(Api.MessageStatusPayload)
})

const decodeEnvelope = ProviderWebhook.decodeShape(Api.WebhookEnvelope)
const decodeCreatedHead = ProviderWebhook.decodeShape(CreatedHead, ["payload"])
const decodeCreated = ProviderWebhook.decodeShape(Api.MessageCreatedPayload, ["payload"])
const decodeStatusHead = ProviderWebhook.decodeShape(StatusHead, ["payload"])

const received = (payload: unknown, now: number): Effect.Effect<ReadonlyArray<InboundEvent.InboundEvent>> => {
  const head = decodeCreatedHead(payload)
  if (Result.isFailure(head)) return ProviderWebhook.skip(provider, `message_created: ${head.failure}`)
  const { contact, createdAt, from, status, uuid } = head.success
  if (status !== "received") return Effect.succeed([])
  const chat = ChatId.parse(from)
  if (Result.isFailure(chat)) {
    return ProviderWebhook.skip(provider, `message_created: payload.from: ${chat.failure.reason}`)
  }
  const full = decodeCreated(payload)
  const messageId = uuid ?? (Result.isSuccess(full) ? derivedId(full.success) : digestOf(payload))
  const contents = Result.match(full, {
    onFailure: (reason) => [new InboundEvent.UnavailableContent({ reason })],
    onSuccess: contentsOf
  })
  const replyTo = Result.isSuccess(full)
    ? (full.success.messageContext ?? full.success.mesageContext)?.target?.uuid ?? undefined
    : undefined
  return Effect.succeed(contents.map((content, index) =>
    new InboundEvent.MessageReceived({
      provider,
      eventId: contents.length === 1 ? `message_created:${messageId}` : `message_created:${messageId}:${index}`,
      messageId,
      chat: chat.success,
      sender: chat.success,
      senderName: contact?.name,
      content,
      replyTo,
      at: timeOf(createdAt, now)
    })
  ))
}

const statusChanged = (payload: unknown, now: number): Effect.Effect<ReadonlyArray<InboundEvent.InboundEvent>> => {
  const head = decodeStatusHead(payload)
  if (Result.isFailure(head)) return ProviderWebhook.skip(provider, `message_status_updated: ${head.failure}`)
  const p = head.success
  const status = deliveryStatus(p.status)
  if (status === undefined) return Effect.succeed([])
  const destination = p.messageStatusPayload?.destination ?? p.contact?.phoneNumber
  const ts = p.messageStatusPayload?.payload?.ts
  return Effect.succeed([
    new InboundEvent.StatusChanged({
      provider,
      eventId: `message_status_updated:${p.uuid}:${p.status}`,
      messageId: p.uuid,
      chat: destination ? Result.getOrUndefined(ChatId.parse(destination)) : undefined,
      status,
      error: status === "failed" ? failureReason(p.messageStatusPayload) : undefined,
      at: ts === undefined ? new Date(now) : dateOf(ts * 1000, now)
    })
  ])
}

const parse = ProviderWebhook.parseJson(provider)

const isBlank = (body: Uint8Array) =>
  body.every((byte) => byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d)

// A verified delivery is never refused for its shape: what cannot be read is skipped, and logged.
const decode = (
  request: Webhook.WebhookRequest
): Effect.Effect<ReadonlyArray<InboundEvent.InboundEvent>, Webhook.WebhookError> =>
  isBlank(request.body) ? Effect.succeed([]) : Effect.gen(function*() {
    const envelope = decodeEnvelope(yield* parse(request.body))
    if (Result.isFailure(envelope)) return yield* ProviderWebhook.skip(provider, envelope.failure)
    const now = yield* Clock.currentTimeMillis
    switch (envelope.success.event) {
      case "message_created":
        return yield* received(envelope.success.payload, now)
      case "message_status_updated":
        return yield* statusChanged(envelope.success.payload, now)
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
    ...(options.secret
      ? [verifySignature(options.secret, Duration.fromInputUnsafe(options.tolerance ?? "5 minutes"))]
      : []),
    ...(options.token ? [ProviderWebhook.verifyToken(provider, { token: options.token })] : [])
  ]
  return {
    provider,
    verify: checks.length === 0
      ? ProviderWebhook.verification(provider, {})
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
  token: Config.option(Config.Redacted("PARLEY_CALLBELL_WEBHOOK_TOKEN")),
  secret: Config.option(Config.Redacted("PARLEY_CALLBELL_WEBHOOK_SECRET"))
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
