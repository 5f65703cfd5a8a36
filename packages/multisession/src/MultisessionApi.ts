/**
 * The wire format of the self-hosted `gdbrns/go-whatsapp-multi-session-rest-api` gateway as `Schema`s:
 * the single source of truth for the client, the webhook decoder and the emulator. Read in the Go code
 * at commit `dab7403` (March 2026: `internal/types/request.go`, `internal/messaging/messaging.go`,
 * `internal/message/message.go`, `pkg/whatsapp/whatsapp.go`, `pkg/router/*.go`, `internal/webhook/*`)
 * and its `docs/swagger.yaml` / `docs/WEBHOOK_EVENTS.md`; see `providers.md` §3.
 *
 * Where the docs and the code disagree, the code decides what is sent and both shapes decode: request
 * structs without json tags are matched by Go field name (see {@link ReactionRequest}), the send
 * answer is `data: { message_id, status, timestamp }` in the docs and `data: { message_id }` in the
 * code, and errors carry the detail in `error` (the docs put a generic `message` beside it, the code
 * repeats it).
 *
 * @since 0.1.0
 */
import { HttpTransport, type ProviderWebhook } from "@parley/core/provider"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"

/**
 * The provider's name in receipts, errors, metrics and webhook paths.
 *
 * @since 0.1.0
 * @category constants
 */
export const provider = "multisession"

/**
 * Where the gateway listens by default.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "http://localhost:7001"

// JIDs go into the path as they are: `@` is legal in a path segment, and the gateway (Fiber) reads
// path parameters without percent-decoding them.
const segment = (s: string) => encodeURIComponent(s).replace(/%40/g, "@")

/**
 * `/chats/{chat_jid}/{action}`, e.g. `chatPath("6281234567890@s.whatsapp.net", "messages")`.
 *
 * @since 0.1.0
 * @category paths
 */
export const chatPath = (jid: string, action: string): `/${string}` => `/chats/${segment(jid)}/${action}`

/**
 * `/messages/{message_id}/{action}`, e.g. `messagePath(id, "reply")`.
 *
 * @since 0.1.0
 * @category paths
 */
export const messagePath = (id: string, action: string): `/${string}` => `/messages/${segment(id)}/${action}`

/**
 * Every answer: `{ status, code, message, data, error }`.
 *
 * @since 0.1.0
 * @category responses
 */
export const envelope = <Data extends Schema.Top>(data: Data) =>
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
 * `POST /chats/{chat_jid}/messages`. The Go struct (`RequestSendMessage`) has no json tag on `Text`, so
 * Go's `encoding/json` fills it from any key equal to `Text` ignoring case: `text`, as the swagger has it.
 * The documented `reply_to_message_id` matches no field (`ReplyMessageID` has no underscore), and the
 * handler ignores it anyway: this endpoint cannot quote.
 *
 * @since 0.1.0
 * @category requests
 */
export const SendTextRequest = Schema.Struct({
  text: Schema.String,
  ...Simulation
})

/**
 * `POST /chats/{chat_jid}/messages` (the caller gives the path: {@link chatPath}).
 *
 * @since 0.1.0
 * @category endpoints
 */
export const sendText = HttpTransport.post("/chats/:jid/messages", SendTextRequest, SendResponse)

/**
 * `POST /messages/{message_id}/reply`, keyed by the Go field names of `RequestReply` (no json tags:
 * the swagger's `chat_jid` never fills `ChatJID`, and the gateway answers 500 `Phone number cannot be
 * empty`). Even with `ChatJID` the handler ignores `message_id` and sends plain text, so nothing is
 * quoted: Parley does not use this endpoint (replies are not a capability of this gateway). The
 * emulator serves it as the code behaves.
 *
 * @since 0.1.0
 * @category requests
 */
export const ReplyRequest = Schema.Struct({
  ChatJID: Schema.String,
  Text: Schema.String,
  ...Simulation
})

/**
 * `POST /messages/{message_id}/reaction`, keyed by the Go field names of `RequestReact{MessageID,
 * ChatJID, Emoji}`. The struct has no json tags, and Go's `encoding/json` matches keys to field names
 * ignoring case but not underscores: the documented `chat_jid` never fills `ChatJID` (400 `chat_jid is
 * required`), `ChatJID` (or `chatjid`) does. The reaction's target is the path's `message_id`, and its
 * sender is set to the chat, so only reactions to a user's message in a one-to-one chat attach.
 *
 * @since 0.1.0
 * @category requests
 */
export const ReactionRequest = Schema.Struct({
  ChatJID: Schema.String,
  Emoji: Schema.String
})

/**
 * `POST /messages/{message_id}/reaction` (the caller gives the path: {@link messagePath}).
 *
 * @since 0.1.0
 * @category endpoints
 */
export const react = HttpTransport.post("/messages/:id/reaction", ReactionRequest, SendResponse)

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
 * `POST /chats/{chat_jid}/locations` (the caller gives the path: {@link chatPath}).
 *
 * @since 0.1.0
 * @category endpoints
 */
export const sendLocation = HttpTransport.post("/chats/:jid/locations", LocationRequest, SendResponse)

/**
 * A boolean form field: `true` (also `1`, `yes`, `on`, as the gateway's `parseOptionalBool` reads).
 *
 * @since 0.1.0
 * @category requests
 */
export const FormFlag = Schema.String.pipe(Schema.decodeTo(
  Schema.Boolean,
  SchemaTransformation.transform({
    decode: (s) => ["true", "1", "yes", "on"].includes(s.trim().toLowerCase()),
    encode: (b) => (b ? "true" : "false")
  })
))

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
 * The `data` of `GET /chats/{chat_jid}/messages`: in the code (`WhatsAppGetChatHistory`) a stub that
 * always answers `messages: []`, so message content cannot be read from the gateway at all.
 *
 * @since 0.1.0
 * @category responses
 */
export const HistoryData = Schema.Struct({
  chat_jid: Schema.String,
  limit: Schema.Number,
  before: Schema.String,
  after: Schema.String,
  messages: Schema.Array(Schema.Unknown)
})

/**
 * @since 0.1.0
 * @category responses
 */
export const HistoryResponse = envelope(HistoryData)

/**
 * The MIME type the gateway's handlers stamp on each upload, whatever the file is
 * (`internal/messaging/messaging.go`: `SendImage`, `SendVideo`, `SendAudio`). A PNG goes out labelled
 * JPEG, an Ogg voice note as MP3. Documents are the exception: see {@link documentMimeTypes}.
 *
 * @since 0.1.0
 * @category media
 */
export const uploadMimeTypes = {
  image: "image/jpeg",
  video: "video/mp4",
  audio: "audio/mpeg"
} as const

/**
 * The document types the gateway sends (`allowedDocumentMimes`, `pkg/whatsapp/whatsapp.go`). It labels
 * a document by sniffing its bytes (Go's `http.DetectContentType`) and compares the result exactly:
 * PDF, Office files (old ones sniff as `application/octet-stream`, new ones as `application/zip`) and
 * archives pass; text, CSV and JSON sniff as `text/plain; charset=utf-8`, which is not on the list, and
 * are refused with 500 `Document MIME type … is not allowed`, as are images, audio and video.
 *
 * @since 0.1.0
 * @category media
 */
export const documentMimeTypes: ReadonlyArray<string> = [
  "application/pdf",
  "application/msword",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  "application/vnd.ms-excel",
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  "application/vnd.ms-powerpoint",
  "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  "text/plain",
  "application/zip",
  "application/octet-stream"
]

/**
 * The gateway's default request body limit, `HTTP_BODY_LIMIT_SIZE=8M` (`pkg/router/router.go`): a
 * larger upload is refused with 413 before it reaches a handler.
 *
 * @since 0.1.0
 * @category media
 */
export const defaultBodyLimit = 8 * 1024 * 1024

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
 * `message.received`: no text or media, only who, where and when (`pkg/whatsapp/whatsapp.go`,
 * `handleWhatsAppEvents`), and the history endpoint that could give the content is a stub: the content
 * of a user's message cannot be had from this gateway. `from` is the sender as whatsmeow prints it
 * (with a device suffix, `62…:12@s.whatsapp.net`, for a companion device); `chat` is the group, the
 * user, or `status@broadcast` for status updates.
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
 * `message.delivered`, `message.read`, `message.played`: one event per message id. The gateway posts
 * `message.read` for whatsmeow's `read` and `read-self` receipts, `message.played` for `played`, and
 * `message.delivered` for every other receipt type, failures included (`server-error`, `inactive`,
 * `retry`, `sender`, …): the receipt's type is not in the payload, so a failure cannot be told apart.
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
  event_type: Schema.Literals([events.delivered, events.read, events.played]),
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
  event_type: Schema.String.check(
    Schema.makeFilter((s) => !parsedEvents.includes(s), { expected: "an event type Parley does not read" })
  )
})

/**
 * A webhook request body: one event per request.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const WebhookBody = Schema.Union([MessageReceivedEvent, ReceiptEvent, OtherEvent])

/**
 * @since 0.1.0
 * @category webhooks
 */
export type WebhookBody = typeof WebhookBody.Type

/**
 * `media.received`, sent beside `message.received` for media: its kind, but neither the file nor a URL
 * (Parley does not read it).
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
  secret: ProviderWebhook.HmacOptions["secret"],
  header: string = webhookHeaders.signature
): ProviderWebhook.HmacOptions => ({ secret, header, algorithm: "sha256", prefix: "sha256=" })
