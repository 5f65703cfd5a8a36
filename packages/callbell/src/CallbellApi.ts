/**
 * The Callbell API (`https://api.callbell.eu/v1`) wire format as `Schema`s: the single source of truth
 * for the client, the webhook decoder and the emulator. Source: the public docs in
 * `callbellchat/callbell-public-docs` (`docs/api/reference/**`); see `providers.md` §4.
 *
 * Fields the docs do not list are marked *inferred* and always optional, so the client stays tolerant.
 *
 * @since 0.1.0
 */
import type { InboundEvent } from "@parley/core"
import { HttpTransport, ProviderWebhook, WireSchema } from "@parley/core/provider"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

/**
 * The provider's name in receipts, errors, metrics and webhook paths.
 *
 * @since 0.1.0
 * @category constants
 */
export const provider = "callbell"

/**
 * The public API's base URL.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "https://api.callbell.eu/v1"

const optionalNullable = <S extends Schema.Top>(schema: S) => Schema.optional(Schema.NullOr(schema))

/**
 * `type` of `POST /messages/send`. `text`, `image` and `document` are documented for every message;
 * `video` only for template header media; audio and video attachments are sent as `document` with
 * `content.url` (the docs' own examples). `audio` is accepted by the emulator but inferred.
 *
 * @since 0.1.0
 * @category requests
 */
export const MessageType = Schema.Literals(["text", "image", "document", "video", "audio"])

/**
 * @since 0.1.0
 * @category requests
 */
export type MessageType = typeof MessageType.Type

/**
 * `content`: `{ text }` for text, `{ url, text? }` for attachments (`text` is the caption); for a
 * template, `text` fills its single `{{1}}` and `url` is the header media.
 *
 * @since 0.1.0
 * @category requests
 */
export const Content = Schema.Struct({
  text: Schema.optional(Schema.String),
  url: Schema.optional(Schema.String)
})

/**
 * Key/value pairs attached to a message and echoed in its webhooks: at most 10 pairs, keys up to 50
 * characters, values up to 500.
 *
 * @since 0.1.0
 * @category requests
 */
export const Metadata = Schema.Record(Schema.String, Schema.String)

/**
 * The documented limits of {@link Metadata}.
 *
 * @since 0.1.0
 * @category requests
 */
export const metadataLimits = { pairs: 10, keyLength: 50, valueLength: 500 } as const

/**
 * `POST /messages/send`.
 *
 * @since 0.1.0
 * @category requests
 */
export const SendRequest = Schema.Struct({
  /** `+` and the E.164 digits (or a platform identifier). */
  to: Schema.String,
  /** The channel type: `whatsapp`. */
  from: Schema.String,
  type: MessageType,
  content: Content,
  /** The sending channel; the account's main channel when absent. */
  channel_uuid: Schema.optional(Schema.String),
  /** Sends the approved template with this uuid; requires `optin_contact: true`. */
  template_uuid: Schema.optional(Schema.String),
  optin_contact: Schema.optional(Schema.Boolean),
  /** Values for `{{1}}`, `{{2}}`, … of a multi-variable template (then `content.text` is ignored). */
  template_values: Schema.optional(Schema.Array(Schema.String)),
  metadata: Schema.optional(Metadata),
  /** Comma-separated extra fields to return: `contact`. */
  fields: Schema.optional(Schema.String)
})

/**
 * Message statuses, in the order they move (`failed` can follow any; `mismatch` reports a phone number
 * corrected by WhatsApp; `deleted` is deprecated). Read as plain strings so new values do not break.
 *
 * @since 0.1.0
 * @category responses
 */
export const MessageStatus = Schema.Literals(["enqueued", "sent", "delivered", "read", "failed", "mismatch", "deleted"])

/**
 * @since 0.1.0
 * @category responses
 */
export type MessageStatus = typeof MessageStatus.Type

/**
 * The provider's raw status payload (a Gupshup/WhatsApp status: `gsId` is Gupshup's id). Its inner
 * `payload` carries `ts` on updates, `{ type: "session", whatsappMessageId }` on `GET` and, inferred,
 * `{ code, reason }` on failures.
 *
 * @since 0.1.0
 * @category responses
 */
export const MessageStatusPayload = Schema.Struct({
  id: optionalNullable(Schema.String),
  gsId: optionalNullable(Schema.String),
  type: optionalNullable(Schema.String),
  payload: optionalNullable(Schema.Struct({
    ts: Schema.optional(Schema.Number),
    type: Schema.optional(Schema.String),
    whatsappMessageId: Schema.optional(Schema.String),
    code: Schema.optional(Schema.Union([Schema.Number, Schema.String])),
    reason: Schema.optional(Schema.String)
  })),
  /** The recipient's digits. */
  destination: optionalNullable(Schema.String)
})

/**
 * The contact returned with `fields=contact`.
 *
 * @since 0.1.0
 * @category responses
 */
export const SendContact = Schema.Struct({
  uuid: Schema.String,
  name: optionalNullable(Schema.String),
  phone: optionalNullable(Schema.String),
  email: optionalNullable(Schema.String)
})

/**
 * `MessageSendRequest`: what `POST /messages/send` and `GET /messages/status/{uuid}` answer with.
 *
 * @since 0.1.0
 * @category responses
 */
export const MessageSendRequest = Schema.Struct({
  uuid: Schema.String,
  status: Schema.String,
  messageStatusPayload: optionalNullable(MessageStatusPayload),
  contact: optionalNullable(SendContact)
})

/**
 * `{ message: { uuid, status: "enqueued" } }`: the message is queued; its fate arrives by webhook or
 * `GET /messages/status/{uuid}`.
 *
 * @since 0.1.0
 * @category responses
 */
export const SendResponse = Schema.Struct({ message: MessageSendRequest })

/**
 * `GET /messages/status/{uuid}`.
 *
 * @since 0.1.0
 * @category responses
 */
export const StatusResponse = Schema.Struct({ message: MessageSendRequest })

/**
 * The error body is undocumented. The emulator answers `{ error }` (inferred); the client reads any
 * body tolerantly (`HttpTransport.describe`).
 *
 * @since 0.1.0
 * @category responses
 */
export const ErrorResponse = Schema.Struct({ error: Schema.String })

/**
 * The contact a webhook payload is about.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const Contact = Schema.Struct({
  uuid: optionalNullable(Schema.String),
  name: optionalNullable(Schema.String),
  phoneNumber: optionalNullable(Schema.String),
  href: optionalNullable(Schema.String),
  conversationHref: optionalNullable(Schema.String),
  tags: optionalNullable(Schema.Array(Schema.String)),
  source: optionalNullable(Schema.String),
  avatarUrl: optionalNullable(Schema.String),
  createdAt: optionalNullable(Schema.String)
})

/**
 * `messageLocation`: `coordinates.x` is the latitude, `y` the longitude (per the docs' example), each a
 * number or a number written as text (`"52.37"`).
 *
 * @since 0.1.0
 * @category webhooks
 */
export const MessageLocation = Schema.Struct({
  coordinates: Schema.Struct({ x: WireSchema.LooseNumber, y: WireSchema.LooseNumber }),
  googleMapsLocation: optionalNullable(Schema.String)
})

/**
 * The message a reply or reaction points at. Documented only as an object; its `uuid` is inferred.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const Target = Schema.Struct({
  uuid: optionalNullable(Schema.String),
  text: optionalNullable(Schema.String)
})

/**
 * `messageContext` (spelled `mesageContext` in the docs' table): the message this one replies to.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const MessageContext = Schema.Struct({
  target: optionalNullable(Target),
  text: optionalNullable(Schema.String),
  createdAt: optionalNullable(Schema.String),
  status: optionalNullable(Schema.String)
})

/**
 * A reaction (documented as the `MessageReaction` object; that `message_created` carries it as
 * `messageReaction` is inferred).
 *
 * @since 0.1.0
 * @category webhooks
 */
export const MessageReaction = Schema.Struct({
  emoji: Schema.String,
  target: optionalNullable(Target),
  createdAt: optionalNullable(Schema.String)
})

/**
 * Metadata echoed in webhooks (strings when we set them; read tolerantly).
 *
 * @since 0.1.0
 * @category webhooks
 */
export const WebhookMetadata = Schema.Record(Schema.String, Schema.Unknown)

/**
 * The `message_created` payload, for messages received (`status: "received"`) and sent (`"sent"`).
 *
 * The documented payload has **no message id**; `uuid` (the id of the `Message` object the Contacts
 * API lists) is inferred and optional.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const MessageCreatedPayload = Schema.Struct({
  uuid: optionalNullable(Schema.String),
  to: optionalNullable(Schema.String),
  /** The sender's channel identifier (for WhatsApp, the phone digits). */
  from: Schema.String,
  text: optionalNullable(Schema.String),
  /** Attachment URLs. */
  attachments: optionalNullable(Schema.Array(Schema.String)),
  status: Schema.String,
  channel: optionalNullable(Schema.String),
  contact: optionalNullable(Contact),
  /** ISO 8601. */
  createdAt: optionalNullable(Schema.String),
  metadata: optionalNullable(WebhookMetadata),
  messageLocation: optionalNullable(MessageLocation),
  messageContext: optionalNullable(MessageContext),
  mesageContext: optionalNullable(MessageContext),
  messageReaction: optionalNullable(MessageReaction),
  messageForward: optionalNullable(Schema.Unknown),
  messageContactCard: optionalNullable(Schema.Unknown),
  messageReplyButton: optionalNullable(Schema.Unknown),
  messageInteractiveList: optionalNullable(Schema.Unknown)
})

/**
 * The `message_status_updated` payload (outgoing messages only). `uuid` is the `uuid` the send answered
 * with.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const MessageStatusUpdatedPayload = Schema.Struct({
  uuid: Schema.String,
  status: Schema.String,
  contact: optionalNullable(Contact),
  metadata: optionalNullable(WebhookMetadata),
  messageStatusPayload: optionalNullable(MessageStatusPayload)
})

/**
 * Any webhook body, `{ event, payload }`. Both are optional so that liveness checks and events Parley
 * does not use are recognised rather than refused.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const WebhookEnvelope = Schema.Struct({
  event: Schema.optional(Schema.String),
  payload: Schema.optional(Schema.Unknown)
})

/**
 * @since 0.1.0
 * @category webhooks
 */
export const MessageCreatedEvent = Schema.Struct({
  event: Schema.Literal("message_created"),
  payload: MessageCreatedPayload
})

/**
 * @since 0.1.0
 * @category webhooks
 */
export const MessageStatusUpdatedEvent = Schema.Struct({
  event: Schema.Literal("message_status_updated"),
  payload: MessageStatusUpdatedPayload
})

/**
 * The header of Callbell's optional webhook signature: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<raw body>">`, keyed with the `whsec_…` secret.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const signatureHeader = "X-Callbell-Signature"

/**
 * The hex HMAC-SHA256 Callbell signs `"<timestamp>.<raw body>"` with.
 *
 * @since 0.1.0
 * @category signing
 */
export const digest = (secret: Redacted.Redacted, timestamp: number, body: Uint8Array | string) =>
  ProviderWebhook.sign(
    { secret, header: signatureHeader, algorithm: "sha256" },
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

/**
 * The file name at the end of an attachment's URL (or of a bare path).
 *
 * @since 0.1.0
 * @category attachments
 */
export const attachmentName = (url: string): string => {
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
  const name = attachmentName(url)
  const dot = name.lastIndexOf(".")
  return (dot === -1 ? undefined : extensions[name.slice(dot + 1).toLowerCase()]) ?? "document"
}

/**
 * The delivery status a Callbell status stands for: `sent`, `delivered`, `read` and `failed` map;
 * `enqueued` (not yet sent), `mismatch` (a number corrected) and `deleted` do not.
 *
 * @since 0.1.0
 * @category statuses
 */
export const deliveryStatus = (status: string): InboundEvent.DeliveryStatus | undefined => {
  switch (status) {
    case "sent":
    case "delivered":
    case "read":
    case "failed":
      return status
    default:
      return undefined
  }
}

/**
 * Why a message failed, from its raw status payload (`payload.reason`, else the code).
 *
 * @since 0.1.0
 * @category statuses
 */
export const failureReason = (payload: typeof MessageStatusPayload.Type | null | undefined): string => {
  const inner = payload?.payload
  if (inner?.reason) return inner.reason
  return inner?.code === undefined ? "failed" : `failed (code ${inner.code})`
}

/**
 * `POST /messages/send`.
 *
 * @since 0.1.0
 * @category endpoints
 */
export const sendMessage = HttpTransport.post("/messages/send", SendRequest, SendResponse)

/**
 * `GET /messages/status/{uuid}` (the caller gives the path).
 *
 * @since 0.1.0
 * @category endpoints
 */
export const messageStatus = HttpTransport.get("/messages/status/:uuid", StatusResponse)
