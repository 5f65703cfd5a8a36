/**
 * The Wawp (api.wawp.net v2) wire format as `Schema`s: the single source of truth for the client,
 * the webhook decoder and the emulator. Sources: api.wawp.net/en/docs/v2 (send/text, send/image,
 * session/webhook), its OpenAPI export, the Wawp MCP server and n8n nodes; see `providers.md` §2.
 *
 * Every call carries `instance_id` and `access_token`; the docs place them in the JSON body or the
 * query string, the OpenAPI in an `access-token` header, so the schemas keep them optional and the
 * emulator accepts each placement.
 *
 * @since 0.1.0
 */
import { HttpTransport, Waha, WireSchema } from "@parley/core/provider"
import * as Schema from "effect/Schema"

/**
 * The provider's name in receipts, errors, metrics and webhook paths.
 *
 * @since 0.1.0
 * @category constants
 */
export const provider = "wawp"

/**
 * The public API host.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "https://api.wawp.net"

/**
 * The webhook signature header when none is configured (undocumented by Wawp; WAHA's).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultWebhookHeader = "X-Webhook-Hmac"

/**
 * The credentials every call carries. `access_token` stays `Redacted` until it is encoded.
 *
 * @since 0.1.0
 * @category requests
 */
export const Credentials = Schema.Struct({
  /** The instance (one linked WhatsApp number), 12 alphanumerics. */
  instance_id: Schema.optional(Schema.String),
  access_token: Schema.optional(Schema.RedactedFromValue(Schema.String))
})

/**
 * @since 0.1.0
 * @category requests
 */
export type Credentials = typeof Credentials.Type

/** A JID: `…@c.us` for people, `…@g.us` for groups, `…@newsletter` for channels. */
const chatId = { chatId: Schema.String }

/** A serialized whatsapp-web.js message id to quote (`false_111…@c.us_AAAA`). */
const replyTo = { reply_to: Schema.optional(Schema.String) }

/**
 * A file to send: its URL (http(s), or a `data:` URL), name and MIME type.
 *
 * @since 0.1.0
 * @category requests
 */
export const File = Schema.Struct({
  url: Schema.String,
  filename: Schema.optional(Schema.String),
  mimetype: Schema.optional(Schema.String)
})

/**
 * A whatsapp-web.js message key. `_serialized` (`true_<jid>_<id>`) is the id Parley stores.
 *
 * @since 0.1.0
 * @category responses
 */
export const MessageKey = Schema.Struct({
  fromMe: Schema.Boolean,
  /** The chat's JID. */
  remote: Schema.String,
  id: Schema.String,
  _serialized: Schema.String
})

/**
 * The whatsapp-web.js `Message` every send answers with. Success is recognised by its shape: only
 * `id._serialized` is required, the rest is read tolerantly and extra fields are ignored.
 *
 * @since 0.1.0
 * @category responses
 */
export const MessageResponse = Schema.Struct({
  id: MessageKey,
  /** -1 error, 0 pending, 1 server, 2 device, 3 read, 4 played. */
  ack: Schema.optional(Schema.Number),
  hasMedia: Schema.optional(Schema.Boolean),
  /** The text, or the caption of media. */
  body: Schema.optional(Schema.String),
  /** `chat`, `image`, `video`, `ptt`, `document`, `location`, `reaction`, … */
  type: Schema.optional(Schema.String),
  /** Seconds since the epoch. */
  timestamp: Schema.optional(Schema.Number),
  from: Schema.optional(Schema.String),
  to: Schema.optional(Schema.String),
  fromMe: Schema.optional(Schema.Boolean),
  hasQuotedMsg: Schema.optional(Schema.Boolean),
  deviceType: Schema.optional(Schema.String),
  isForwarded: Schema.optional(Schema.Boolean),
  location: Schema.optional(Schema.Struct({
    latitude: Schema.Number,
    longitude: Schema.Number,
    description: Schema.optional(Schema.String)
  })),
  /** The raw WhatsApp Web message. */
  _data: Schema.optional(Schema.Record(Schema.String, Schema.Unknown))
})

/**
 * `POST /v2/send/text` (at most 4096 characters).
 *
 * @since 0.1.0
 * @category requests
 */
export const SendTextRequest = Schema.Struct({
  ...Credentials.fields,
  ...chatId,
  message: Schema.String,
  ...replyTo
})

/**
 * @since 0.1.0
 * @category endpoints
 */
export const sendText = HttpTransport.post("/v2/send/text", SendTextRequest, MessageResponse)

/**
 * `POST /v2/send/image` (JPEG or PNG).
 *
 * @since 0.1.0
 * @category requests
 */
export const SendImageRequest = Schema.Struct({
  ...Credentials.fields,
  ...chatId,
  file: File,
  caption: Schema.optional(Schema.String),
  ...replyTo
})

/**
 * @since 0.1.0
 * @category endpoints
 */
export const sendImage = HttpTransport.post("/v2/send/image", SendImageRequest, MessageResponse)

/**
 * `POST /v2/send/pdf`: a document.
 *
 * @since 0.1.0
 * @category requests
 */
export const SendPdfRequest = Schema.Struct({
  ...Credentials.fields,
  ...chatId,
  file: File,
  caption: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category endpoints
 */
export const sendPdf = HttpTransport.post("/v2/send/pdf", SendPdfRequest, MessageResponse)

/**
 * `POST /v2/send/voice`: a voice note (OGG/Opus; `convert` asks Wawp to transcode).
 *
 * @since 0.1.0
 * @category requests
 */
export const SendVoiceRequest = Schema.Struct({
  ...Credentials.fields,
  ...chatId,
  file: File,
  convert: Schema.optional(WireSchema.LooseBoolean)
})

/**
 * @since 0.1.0
 * @category endpoints
 */
export const sendVoice = HttpTransport.post("/v2/send/voice", SendVoiceRequest, MessageResponse)

/**
 * `POST /v2/send/video` (`asNote`: a round video note).
 *
 * @since 0.1.0
 * @category requests
 */
export const SendVideoRequest = Schema.Struct({
  ...Credentials.fields,
  ...chatId,
  file: File,
  caption: Schema.optional(Schema.String),
  convert: Schema.optional(WireSchema.LooseBoolean),
  asNote: Schema.optional(WireSchema.LooseBoolean)
})

/**
 * @since 0.1.0
 * @category endpoints
 */
export const sendVideo = HttpTransport.post("/v2/send/video", SendVideoRequest, MessageResponse)

/**
 * `POST /v2/send/location`: `title` names the place, `message` describes it.
 *
 * @since 0.1.0
 * @category requests
 */
export const SendLocationRequest = Schema.Struct({
  ...Credentials.fields,
  ...chatId,
  latitude: WireSchema.LooseNumber,
  longitude: WireSchema.LooseNumber,
  title: Schema.optional(Schema.String),
  message: Schema.optional(Schema.String),
  ...replyTo
})

/**
 * @since 0.1.0
 * @category endpoints
 */
export const sendLocation = HttpTransport.post("/v2/send/location", SendLocationRequest, MessageResponse)

/**
 * `PUT` reaction (path inferred: `/v2/send/reaction` by default). `reaction: ""` removes it.
 *
 * @since 0.1.0
 * @category requests
 */
export const ReactionRequest = Schema.Struct({
  ...Credentials.fields,
  messageId: Schema.String,
  reaction: Schema.String
})

/**
 * The path of the reaction endpoint when none is configured (inferred from the other v2 paths).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultReactionPath: `/${string}` = "/v2/send/reaction"

/**
 * The answer to the reaction endpoint is undocumented: a message object when there is one, else
 * anything with an optional `id`.
 *
 * @since 0.1.0
 * @category responses
 */
export const ReactionResponse = Schema.Struct({
  id: Schema.optional(Schema.Union([MessageKey, Schema.String]))
})

/**
 * The reaction endpoint, at {@link defaultReactionPath} unless configured otherwise.
 *
 * @since 0.1.0
 * @category endpoints
 */
export const reaction = HttpTransport.put(defaultReactionPath, ReactionRequest, ReactionResponse)

/**
 * The documented error body (OpenAPI `ErrorResponse`), read tolerantly. `error` is a code such as
 * `quota_reached`, `subscription_required` or `wawp_upstream_error`.
 *
 * @since 0.1.0
 * @category responses
 */
export const ErrorResponse = Schema.Struct({
  status: Schema.optional(Schema.Number),
  message: Schema.optional(Schema.String),
  error: Schema.optional(Schema.String),
  /** Seen in third-party code as `{ code: "invalid_session", message }` when the session dropped. */
  code: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category responses
 */
export type ErrorResponse = typeof ErrorResponse.Type

/**
 * A failure of the WhatsApp engine behind Wawp, reported inside a 200 body (as third-party code
 * reads it; inferred).
 *
 * @since 0.1.0
 * @category responses
 */
export const UpstreamErrorBody = Schema.Struct({
  wawp_upstream_error: Schema.Union([Schema.String, Schema.ObjectKeyword])
})

/**
 * The error code of an engine failure when it arrives as an error status.
 *
 * @since 0.1.0
 * @category constants
 */
export const upstreamErrorCode = "wawp_upstream_error"

/**
 * Webhooks use WAHA's envelope, one event or an array of them (inferred: Wawp runs a WAHA-style engine).
 *
 * @since 0.1.0
 * @category webhooks
 */
export const WebhookBody = Waha.Body
