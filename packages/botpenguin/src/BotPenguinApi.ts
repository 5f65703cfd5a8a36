/**
 * The BotPenguin WhatsApp Cloud API wire format as `Schema`s: the single source of truth for the
 * client and the emulator. Source: help.botpenguin.com/api-references/whatsapp-cloud-api (send
 * message, send template) and the partner and white-label copies; see `providers.md` §1.
 *
 * Requests are documented. Success bodies are not (the docs show only headers), so
 * {@link SendResponse} reads a message id tolerantly from whatever comes back. Error bodies are
 * documented only as "refer to Meta's error codes": they are taken to be Meta error objects.
 *
 * @since 0.1.0
 */
import { Message } from "@parley/core"
import { HttpTransport, MetaCloud, MetaError } from "@parley/core/provider"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"

/**
 * The provider's name in receipts, errors and metrics.
 *
 * @since 0.1.0
 * @category constants
 */
export const provider = "botpenguin"

/**
 * BotPenguin's public API host; white labels have their own (`https://api.v7.express-chat.com`, …).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "https://api.v7.botpenguin.com"

/**
 * The send-message endpoint (the API key goes in the query string and the `apiKey` header).
 *
 * @since 0.1.0
 * @category paths
 */
export const sendMessagePath: `/${string}` = "/whatsapp-automation/wa/send-message"

/**
 * The send-template endpoint.
 *
 * @since 0.1.0
 * @category paths
 */
export const sendTemplatePath: `/${string}` = "/whatsapp-automation/wa/send-template"

/**
 * The recipient: the number's digits with country code and no `+` (`31612345678`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const WaId = Schema.String.check(
  Schema.isPattern(/^[1-9]\d{6,14}$/, {
    message: "must be the number's 7 to 15 digits with country code and no + (e.g. 31612345678)"
  })
)

/**
 * An http(s) URL the provider fetches media from.
 *
 * @since 0.1.0
 * @category schemas
 */
export const MediaUrl = MetaCloud.Link

const recipient = {
  /** The contact's display name, shown in BotPenguin's inbox. */
  userName: Schema.String.check(Schema.isNonEmpty({ message: "must not be empty" })),
  wa_id: WaId,
  /** Conversation tags (partner and white-label docs). */
  tags: Schema.optional(Schema.Array(Schema.String))
}

/**
 * The kinds send-message carries ("e.g. text, image, document": nothing else is documented).
 *
 * @since 0.1.0
 * @category schemas
 */
export const MessageType = Schema.Literals(["text", "image", "document"])

/**
 * @since 0.1.0
 * @category schemas
 */
export type MessageType = typeof MessageType.Type

/**
 * `message` of send-message: `text` for text; `source` (the media URL), `label` (the caption) and
 * `type` (repeating the outer `type`) for media.
 *
 * @since 0.1.0
 * @category schemas
 */
export const MessageBody = Schema.Struct({
  text: Schema.optional(Schema.String.check(Schema.isMaxLength(Message.limits.textLength, {
    message: `must be at most ${Message.limits.textLength} characters`
  }))),
  source: Schema.optional(MediaUrl),
  label: Schema.optional(Schema.String.check(Schema.isMaxLength(Message.limits.captionLength, {
    message: `must be at most ${Message.limits.captionLength} characters`
  }))),
  type: Schema.optional(MessageType)
})

/**
 * `POST /whatsapp-automation/wa/send-message`: a session message (inside the 24 h window).
 *
 * @since 0.1.0
 * @category requests
 */
export const SendMessageRequest = Schema.Struct({
  ...recipient,
  type: MessageType,
  message: MessageBody
}).check(
  Schema.makeFilter(({ message, type }) => {
    if (type === "text") {
      return message.text !== undefined && message.text.trim().length > 0
        || { path: ["message", "text"], issue: "is required for type text" }
    }
    if (message.source === undefined) return { path: ["message", "source"], issue: `is required for type ${type}` }
    return message.type === undefined || message.type === type
      || { path: ["message", "type"], issue: `must repeat the outer type (${type})` }
  })
)

/**
 * @since 0.1.0
 * @category requests
 */
export type SendMessageRequest = typeof SendMessageRequest.Type

/**
 * `POST /whatsapp-automation/wa/send-template`: `templateId` is BotPenguin's id of the template;
 * `params` is an empty array for a template without variables.
 *
 * @since 0.1.0
 * @category requests
 */
export const SendTemplateRequest = Schema.Struct({
  ...recipient,
  templateId: Schema.String.check(Schema.isNonEmpty({ message: "must not be empty" })),
  params: Schema.Array(MetaCloud.Component),
  /** The agent (email) to assign the conversation to. */
  assignTo: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category requests
 */
export type SendTemplateRequest = typeof SendTemplateRequest.Type

/**
 * Meta's send answer, which the emulator gives (BotPenguin relays the Cloud API; the real body is
 * undocumented).
 *
 * @since 0.1.0
 * @category responses
 */
export const MetaSendResponse = MetaCloud.SendResponse

const Id = Schema.Union([
  Schema.Trimmed.check(Schema.isNonEmpty()),
  Schema.Int.pipe(Schema.decodeTo(Schema.String, SchemaTransformation.transform({ decode: String, encode: Number })))
])

// `{ [key]: <carrier> }`, read as the id the carrier reads.
const at = (key: string, carrier: Schema.Codec<string, unknown>) =>
  Schema.Struct({ [key]: carrier }).pipe(
    Schema.decodeTo(
      Schema.String,
      SchemaTransformation.transform({ decode: (body) => body[key]!, encode: (id) => ({ [key]: id }) })
    )
  )

// Where a message id may stand, most specific first.
const direct = Schema.Union([
  Schema.Struct({ messages: Schema.NonEmptyArray(Schema.Struct({ id: Id })) }).pipe(
    Schema.decodeTo(
      Schema.String,
      SchemaTransformation.transform({
        decode: ({ messages }) => messages[0].id,
        encode: (id) => ({ messages: [{ id }] as const })
      })
    )
  ),
  at("messageId", Id),
  at("message_id", Id),
  at("wamid", Id),
  at("id", Id)
])

/**
 * A message id wherever a plausible answer carries one: Meta's `messages[0].id`, or `messageId`,
 * `message_id`, `wamid`, `id`, at the top level or under `data` or `result`.
 *
 * @since 0.1.0
 * @category responses
 */
export const MessageIdCarrier = Schema.Union([direct, at("data", direct), at("result", direct)])

const findMessageId = Schema.decodeUnknownOption(MessageIdCarrier)

/**
 * Any 2xx answer, read as the message id it carries, if any. The body is undocumented, so nothing
 * else is required of it: an empty or unfamiliar body decodes to `None`.
 *
 * @since 0.1.0
 * @category responses
 */
export const SendResponse: Schema.Codec<Option.Option<string>, unknown> = Schema.Unknown.pipe(
  Schema.decodeTo(
    Schema.Option(Schema.String),
    SchemaTransformation.transform({
      decode: (body) => findMessageId(body),
      encode: Option.match({ onNone: () => ({}), onSome: (id) => ({ messages: [{ id }] }) })
    })
  )
)

/**
 * Failure bodies: Meta error objects, relayed (`{ error: { message, type, code, error_data, fbtrace_id } }`).
 *
 * @since 0.1.0
 * @category responses
 */
export const ErrorResponse = MetaError.ErrorBody

/**
 * @since 0.1.0
 * @category endpoints
 */
export const sendMessage = HttpTransport.post(sendMessagePath, SendMessageRequest, SendResponse)

/**
 * @since 0.1.0
 * @category endpoints
 */
export const sendTemplate = HttpTransport.post(sendTemplatePath, SendTemplateRequest, SendResponse)
