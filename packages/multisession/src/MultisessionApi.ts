/**
 * The wire format of the self-hosted `gdbrns/go-whatsapp-multi-session-rest-api` gateway as `Schema`s:
 * the single source of truth for the client, the webhook decoder and the emulator. Sources: the
 * project's `docs/swagger.yaml`, `docs/WEBHOOK_EVENTS.md` and its Go code (`internal/messaging`,
 * `internal/message`, `pkg/router/response.go`, `internal/webhook`); see `providers.md` §3.
 *
 * Where the docs and the code disagree, both shapes decode: the send answer is
 * `data: { message_id, status, timestamp }` in the docs and `data: { message_id }` in the code, and
 * errors carry the detail in `error` (the docs put a generic `message` beside it, the code repeats it).
 *
 * @since 0.1.0
 */
import type { Webhook } from "@parley/core"
import * as Schema from "effect/Schema"

const optionalNullable = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

// JIDs go into the path as they are: `@` is legal in a path segment, and the gateway (Fiber) reads
// path parameters without percent-decoding them.
const segment = (s: string) => encodeURIComponent(s).replace(/%40/g, "@")

/**
 * `/chats/{chat_jid}/{action}`, e.g. `chatPath("6281234567890@s.whatsapp.net", "messages")`.
 *
 * @since 0.1.0
 * @category paths
 */
export const chatPath = (jid: string, action: string): string => `/chats/${segment(jid)}/${action}`

/**
 * `/messages/{message_id}/{action}`, e.g. `messagePath(id, "reply")`.
 *
 * @since 0.1.0
 * @category paths
 */
export const messagePath = (id: string, action: string): string => `/messages/${segment(id)}/${action}`

/**
 * Every answer: `{ status, code, message, data, error }`.
 *
 * @since 0.1.0
 * @category responses
 */
export const envelope = <A, I>(data: Schema.Schema<A, I>) =>
  Schema.Struct({
    status: Schema.Boolean,
    code: Schema.Number,
    message: Schema.optional(Schema.String),
    data,
    error: Schema.optional(Schema.String)
  })

/**
 * A failure: the detail is in `error` (the code also copies it to `message`; the docs show a generic
 * `message` such as `Bad request`). Read `error || message`.
 *
 * @since 0.1.0
 * @category responses
 */
export const ErrorResponse = Schema.Struct({
  status: Schema.optional(Schema.Boolean),
  code: Schema.optional(Schema.Number),
  message: Schema.optional(Schema.String),
  error: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category responses
 */
export type ErrorResponse = typeof ErrorResponse.Type

/**
 * What every send answers with: the docs add `status: "sent"` and a Unix `timestamp`, the code sends
 * only `message_id`.
 *
 * @since 0.1.0
 * @category responses
 */
export const SendData = Schema.Struct({
  message_id: Schema.String,
  status: Schema.optional(Schema.String),
  timestamp: Schema.optional(Schema.Number)
})

/**
 * @since 0.1.0
 * @category responses
 */
export const SendResponse = envelope(SendData)

/**
 * Per-request overrides of the gateway's typing/presence simulation (on by default, with a 1–3 s delay
 * before each send).
 *
 * @since 0.1.0
 * @category requests
 */
export const Simulation = {
  typing_simulation: Schema.optional(Schema.Boolean),
  presence_simulation: Schema.optional(Schema.Boolean)
}

/**
 * `POST /chats/{chat_jid}/messages`. `reply_to_message_id` is documented but ignored by the code: replies
 * go through {@link ReplyRequest}.
 *
 * @since 0.1.0
 * @category requests
 */
export const SendTextRequest = Schema.Struct({
  text: Schema.String,
  reply_to_message_id: Schema.optional(Schema.String),
  ...Simulation
})

/**
 * `POST /messages/{message_id}/reply`: a text quoting `message_id`.
 *
 * @since 0.1.0
 * @category requests
 */
export const ReplyRequest = Schema.Struct({
  chat_jid: Schema.String,
  text: Schema.String,
  ...Simulation
})

/**
 * `POST /messages/{message_id}/reaction`.
 *
 * @since 0.1.0
 * @category requests
 */
export const ReactionRequest = Schema.Struct({
  chat_jid: Schema.String,
  emoji: Schema.String
})

/**
 * `POST /chats/{chat_jid}/locations`.
 *
 * @since 0.1.0
 * @category requests
 */
export const LocationRequest = Schema.Struct({
  latitude: Schema.Number,
  longitude: Schema.Number,
  name: Schema.optional(Schema.String),
  address: Schema.optional(Schema.String)
})

/**
 * A boolean form field: `true` (also `1`, `yes`, `on`, as the gateway's `parseOptionalBool` reads).
 *
 * @since 0.1.0
 * @category requests
 */
export const FormFlag = Schema.transform(Schema.String, Schema.Boolean, {
  strict: true,
  decode: (s) => ["true", "1", "yes", "on"].includes(s.trim().toLowerCase()),
  encode: (b) => (b ? "true" : "false")
})

const simulationFields = {
  typing_simulation: Schema.optional(FormFlag),
  presence_simulation: Schema.optional(FormFlag)
}

/**
 * The multipart part carrying the media bytes, on every media endpoint.
 *
 * @since 0.1.0
 * @category requests
 */
export const fileField = "file"

/**
 * The text fields of `POST /chats/{chat_jid}/images` and `…/videos` (beside the `file` part).
 *
 * @since 0.1.0
 * @category requests
 */
export const CaptionedForm = Schema.Struct({
  caption: Schema.optional(Schema.String),
  view_once: Schema.optional(FormFlag),
  ...simulationFields
})

/**
 * The text fields of `POST /chats/{chat_jid}/audio`: `voice_note` (or `ptt`) sends a voice note.
 *
 * @since 0.1.0
 * @category requests
 */
export const AudioForm = Schema.Struct({
  voice_note: Schema.optional(FormFlag),
  ptt: Schema.optional(FormFlag),
  ...simulationFields
})

/**
 * The text fields of `POST /chats/{chat_jid}/documents`: `filename` defaults to the part's file name.
 *
 * @since 0.1.0
 * @category requests
 */
export const DocumentForm = Schema.Struct({
  filename: Schema.optional(Schema.String),
  caption: Schema.optional(Schema.String),
  ...simulationFields
})

/**
 * Every text field a media endpoint reads, for servers that handle them all alike.
 *
 * @since 0.1.0
 * @category requests
 */
export const MediaForm = Schema.Struct({
  ...CaptionedForm.fields,
  ...AudioForm.fields,
  ...DocumentForm.fields
})

/**
 * The path segment after `/chats/{chat_jid}/` for each media kind.
 *
 * @since 0.1.0
 * @category requests
 */
export const mediaEndpoints = {
  image: "images",
  video: "videos",
  audio: "audio",
  document: "documents"
} as const

/**
 * One message of `GET /chats/{chat_jid}/messages`. **Inferred**: the endpoint's answer is undocumented
 * (the swagger says only "Messages retrieved") and the code returns `messages: []`; these fields follow
 * the webhook's naming and are read tolerantly (`id` for `message_id`, nulls for absent fields).
 *
 * @since 0.1.0
 * @category responses
 */
export const HistoryMessage = Schema.Struct({
  message_id: optionalNullable(Schema.String),
  id: optionalNullable(Schema.String),
  chat: optionalNullable(Schema.String),
  from: optionalNullable(Schema.String),
  push_name: optionalNullable(Schema.String),
  /** Unix seconds. */
  timestamp: optionalNullable(Schema.Number),
  is_from_me: optionalNullable(Schema.Boolean),
  /** `text`, `image`, `video`, `audio`, `document`, `sticker`, `location`, `reaction`, … */
  type: optionalNullable(Schema.String),
  text: optionalNullable(Schema.String),
  caption: optionalNullable(Schema.String),
  url: optionalNullable(Schema.String),
  mime_type: optionalNullable(Schema.String),
  filename: optionalNullable(Schema.String),
  latitude: optionalNullable(Schema.Number),
  longitude: optionalNullable(Schema.Number),
  name: optionalNullable(Schema.String),
  address: optionalNullable(Schema.String),
  emoji: optionalNullable(Schema.String),
  /** For reactions: the message reacted to. */
  reaction_message_id: optionalNullable(Schema.String),
  /** The message this one quotes. */
  quoted_message_id: optionalNullable(Schema.String)
})

/**
 * @since 0.1.0
 * @category responses
 */
export type HistoryMessage = typeof HistoryMessage.Type

/**
 * The `data` of `GET /chats/{chat_jid}/messages`: the code's `{ chat_jid, limit, before, after, messages }`,
 * or (tolerated) a bare array of messages.
 *
 * @since 0.1.0
 * @category responses
 */
export const HistoryData = Schema.Union(
  Schema.Struct({
    chat_jid: Schema.optional(Schema.String),
    limit: Schema.optional(Schema.Number),
    before: Schema.optional(Schema.String),
    after: Schema.optional(Schema.String),
    messages: Schema.Array(HistoryMessage)
  }),
  Schema.Array(HistoryMessage)
)

/**
 * @since 0.1.0
 * @category responses
 */
export const HistoryResponse = envelope(HistoryData)

/**
 * The webhook events Parley reads.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const events = {
  messageReceived: "message.received",
  delivered: "message.delivered",
  read: "message.read",
  played: "message.played",
  mediaReceived: "media.received"
} as const

/**
 * Every webhook delivery: `timestamp` is RFC 3339, `data` depends on `event_type`.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const WebhookEnvelope = Schema.Struct({
  event_type: Schema.String,
  device_id: Schema.String,
  timestamp: Schema.String,
  data: Schema.Unknown
})

/**
 * @since 0.1.0
 * @category webhooks
 */
export type WebhookEnvelope = typeof WebhookEnvelope.Type

/**
 * `message.received`: no text or media, only who, where and when. The content is read from
 * `GET /chats/{chat}/messages`.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const MessageReceivedData = Schema.Struct({
  message_id: Schema.String,
  /** The author (in groups, the member who wrote). */
  from: Schema.String,
  /** The conversation: the author's own chat, or the group. */
  chat: Schema.String,
  /** Unix seconds. */
  timestamp: Schema.Number,
  is_from_me: Schema.Boolean
})

/**
 * `message.delivered`, `message.read`, `message.played`: one event per message id.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const ReceiptData = Schema.Struct({
  message_id: Schema.String,
  chat: Schema.String,
  /** The recipient whose device sent the receipt. */
  sender: Schema.optional(Schema.String),
  /** Unix seconds. */
  timestamp: Schema.optional(Schema.Number)
})

/**
 * A `message.received` delivery.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const MessageReceivedEvent = Schema.Struct({
  ...WebhookEnvelope.fields,
  event_type: Schema.Literal(events.messageReceived),
  data: MessageReceivedData
})

/**
 * A receipt delivery: `message.delivered`, `message.read` or `message.played`.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const ReceiptEvent = Schema.Struct({
  ...WebhookEnvelope.fields,
  event_type: Schema.Literal(events.delivered, events.read, events.played),
  data: ReceiptData
})

const parsedEvents: ReadonlyArray<string> = [events.messageReceived, events.delivered, events.read, events.played]

/**
 * Any other delivery (`media.received`, `connection.*`, `group.*`, …), which Parley does not read.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const OtherEvent = Schema.Struct({
  ...WebhookEnvelope.fields,
  event_type: Schema.String.pipe(Schema.filter((s) => !parsedEvents.includes(s)))
})

/**
 * A webhook request body: one event per request.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const WebhookBody = Schema.Union(MessageReceivedEvent, ReceiptEvent, OtherEvent)

/**
 * @since 0.1.0
 * @category webhooks
 */
export type WebhookBody = typeof WebhookBody.Type

/**
 * `media.received`, sent beside `message.received` for media (Parley reads the media from the history).
 *
 * @since 0.1.0
 * @category webhooks
 */
export const MediaReceivedData = Schema.Struct({
  jid: Schema.optional(Schema.String),
  message_id: Schema.String,
  chat: Schema.String,
  media_type: Schema.String
})

/**
 * The headers of a webhook delivery. Both signature headers carry the same `sha256=<hex>`.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const webhookHeaders = {
  signature: "X-Webhook-Signature",
  hubSignature: "X-Hub-Signature-256",
  event: "X-Webhook-Event",
  userAgent: "User-Agent"
} as const

/**
 * The `User-Agent` of webhook deliveries.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const webhookUserAgent = "WhatsApp-API-MultiSession/1.0"

/**
 * How deliveries are signed: hex HMAC-SHA256 of the raw body with the webhook's secret, prefixed
 * `sha256=`.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const signature = (
  secret: Webhook.HmacOptions["secret"],
  header: string = webhookHeaders.signature
): Webhook.HmacOptions => ({ secret, header, algorithm: "sha256", prefix: "sha256=" })
