/**
 * The ChatSend (Wasend-compatible) wire format as `Schema`s: the single source of truth for the
 * client, the webhook decoder and the emulator. Source: chatsend.app/docs and the Wasend SDK
 * (`@wasend/core`); see `providers.md` §5.
 *
 * @since 0.1.0
 */
import { HttpTransport, Waha } from "@parley/core/provider"
import * as Schema from "effect/Schema"

/**
 * The provider's name in receipts, errors, metrics and webhook paths.
 *
 * @since 0.1.0
 * @category constants
 */
export const provider = "chatsend"

const common = {
  /** The ChatSend session (one linked WhatsApp number). */
  session: Schema.String,
  /** `+` international number, or a group JID (`…@g.us`). */
  to: Schema.String
}

/**
 * The message object every send answers with. Only `id` is required by the client (the rest is
 * documented but read tolerantly).
 *
 * @since 0.1.0
 * @category responses
 */
export const MessageResponse = Schema.Struct({
  id: Schema.String,
  to: Schema.optional(Schema.String),
  content: Schema.optional(Schema.Unknown),
  type: Schema.optional(Schema.String),
  /** ISO-8601. */
  timestamp: Schema.optional(Schema.String),
  status: Schema.optional(Schema.String),
  fromMe: Schema.optional(Schema.Boolean),
  sender: Schema.optional(Schema.String),
  recipient: Schema.optional(Schema.String)
})

/**
 * `POST /send`: the message type is inferred from which URL is present; text alone is a text message.
 *
 * @since 0.1.0
 * @category requests
 */
export const SendRequest = Schema.Struct({
  ...common,
  text: Schema.optional(Schema.String),
  imageUrl: Schema.optional(Schema.String),
  videoUrl: Schema.optional(Schema.String),
  documentUrl: Schema.optional(Schema.String),
  audioUrl: Schema.optional(Schema.String),
  mimetype: Schema.optional(Schema.String),
  filename: Schema.optional(Schema.String),
  preview: Schema.optional(Schema.Boolean)
})

/**
 * @since 0.1.0
 * @category endpoints
 */
export const sendAny = HttpTransport.post("/send", SendRequest, MessageResponse)

/**
 * `POST /sendText`.
 *
 * @since 0.1.0
 * @category requests
 */
export const SendTextRequest = Schema.Struct({
  ...common,
  text: Schema.String,
  replyTo: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category endpoints
 */
export const sendText = HttpTransport.post("/sendText", SendTextRequest, MessageResponse)

const file = {
  url: Schema.optional(Schema.String),
  /** Base64 content, instead of `url`. */
  data: Schema.optional(Schema.String)
}

/**
 * `POST /sendImage`.
 *
 * @since 0.1.0
 * @category requests
 */
export const SendImageRequest = Schema.Struct({
  ...common,
  ...file,
  caption: Schema.optional(Schema.String),
  replyTo: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category endpoints
 */
export const sendImage = HttpTransport.post("/sendImage", SendImageRequest, MessageResponse)

/**
 * `POST /sendFile` (note the camelCase, unlike `/send`).
 *
 * @since 0.1.0
 * @category requests
 */
export const SendFileRequest = Schema.Struct({
  ...common,
  ...file,
  fileName: Schema.String,
  mimeType: Schema.String
})

/**
 * @since 0.1.0
 * @category endpoints
 */
export const sendFile = HttpTransport.post("/sendFile", SendFileRequest, MessageResponse)

/**
 * `POST /sendVoice`: sent as a voice note (`ptt`).
 *
 * @since 0.1.0
 * @category requests
 */
export const SendVoiceRequest = Schema.Struct({
  ...common,
  ...file,
  duration: Schema.optional(Schema.Number)
})

/**
 * @since 0.1.0
 * @category endpoints
 */
export const sendVoice = HttpTransport.post("/sendVoice", SendVoiceRequest, MessageResponse)

/**
 * `POST /sendVideo`.
 *
 * @since 0.1.0
 * @category requests
 */
export const SendVideoRequest = Schema.Struct({
  ...common,
  ...file,
  caption: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category endpoints
 */
export const sendVideo = HttpTransport.post("/sendVideo", SendVideoRequest, MessageResponse)

/**
 * `PUT /reaction`: `reaction: ""` removes it.
 *
 * @since 0.1.0
 * @category requests
 */
export const ReactionRequest = Schema.Struct({
  session: Schema.String,
  messageId: Schema.String,
  reaction: Schema.String
})

/**
 * The answer to `PUT /reaction` is undocumented: read tolerantly.
 *
 * @since 0.1.0
 * @category responses
 */
export const ReactionResponse = Schema.Struct({
  id: Schema.optional(Schema.String),
  success: Schema.optional(Schema.Boolean)
})

/**
 * Failure bodies carry `message` (the SDK reads `response.data.message`).
 *
 * @since 0.1.0
 * @category responses
 */
export const ErrorResponse = Schema.Struct({
  message: Schema.String,
  error: Schema.optional(Schema.String)
})

/**
 * Webhooks use WAHA's envelope (inferred: ChatSend runs WAHA).
 *
 * @since 0.1.0
 * @category webhooks
 */
export const WebhookBody = Waha.Body

/**
 * `PUT /reaction`.
 *
 * @since 0.1.0
 * @category endpoints
 */
export const reaction = HttpTransport.put("/reaction", ReactionRequest, ReactionResponse)
