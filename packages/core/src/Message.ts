/**
 * Outbound messages: one tagged shape per kind WhatsApp carries, with the limits WhatsApp enforces
 * written as `Schema` checks, so a bad message is caught before any I/O.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaParser from "effect/SchemaParser"
import * as ChatId from "./ChatId.js"
import { InvalidMessage } from "./MessagingError.js"

/**
 * WhatsApp's limits, checked by {@link validate} before a provider is called.
 *
 * @since 0.1.0
 * @category limits
 */
export const limits = {
  /** Characters in a text message. */
  textLength: 4096,
  /** Characters in a media caption. */
  captionLength: 1024,
  /** Bytes of media, where the size is known. */
  mediaBytes: 16 * 1024 * 1024
} as const

const MessageId = Schema.String.check(
  Schema.makeFilter((s) => s.trim().length > 0 || "must be a provider message id (a non-empty string)")
)

const Text = Schema.String.check(
  Schema.makeFilter((s) =>
    s.trim().length === 0
      ? "must not be empty"
      : s.length > limits.textLength
      ? `is ${s.length} characters; WhatsApp allows at most ${limits.textLength}`
      : undefined
  )
)

const Caption = Schema.String.check(
  Schema.makeFilter((s) =>
    s.length > limits.captionLength
      ? `is ${s.length} characters; WhatsApp allows at most ${limits.captionLength}`
      : undefined
  )
)

const MediaUrl = Schema.String.check(
  Schema.makeFilter((s) => {
    try {
      const url = new URL(s)
      return url.protocol === "http:" || url.protocol === "https:"
        ? undefined
        : `must be an http(s) URL, not ${url.protocol}`
    } catch {
      return "must be an absolute http(s) URL"
    }
  })
)

const MediaSize = Schema.Number.check(
  Schema.makeFilter((n) =>
    !Number.isInteger(n) || n < 0
      ? "must be a whole number of bytes"
      : n > limits.mediaBytes
      ? `is ${n} bytes; WhatsApp allows at most ${limits.mediaBytes} (16 MB)`
      : undefined
  )
)

const Latitude = Schema.Number.check(
  Schema.makeFilter((n) => Number.isFinite(n) && n >= -90 && n <= 90 ? undefined : "must be between -90 and 90")
)
const Longitude = Schema.Number.check(
  Schema.makeFilter((n) => Number.isFinite(n) && n >= -180 && n <= 180 ? undefined : "must be between -180 and 180")
)

const NonEmptyTrimmedString = Schema.Trimmed.check(Schema.isNonEmpty())

const Reply = { replyTo: Schema.optional(MessageId) }
const Media = {
  to: ChatId.FromString,
  url: MediaUrl,
  mimeType: Schema.optional(Schema.String),
  sizeBytes: Schema.optional(MediaSize),
  ...Reply
}

/**
 * @since 0.1.0
 * @category models
 */
export class TextMessage extends Schema.TaggedClass<TextMessage>()("Text", {
  to: ChatId.FromString,
  text: Text,
  /** Ask for a preview of the first link in the text, where the provider lets the sender choose. */
  linkPreview: Schema.optional(Schema.Boolean),
  ...Reply
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export class ImageMessage extends Schema.TaggedClass<ImageMessage>()("Image", {
  ...Media,
  caption: Schema.optional(Caption)
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export class VideoMessage extends Schema.TaggedClass<VideoMessage>()("Video", {
  ...Media,
  caption: Schema.optional(Caption)
}) {}

/**
 * A voice note or audio file.
 *
 * @since 0.1.0
 * @category models
 */
export class AudioMessage extends Schema.TaggedClass<AudioMessage>()("Audio", Media) {}

/**
 * @since 0.1.0
 * @category models
 */
export class DocumentMessage extends Schema.TaggedClass<DocumentMessage>()("Document", {
  ...Media,
  caption: Schema.optional(Caption),
  filename: Schema.optional(NonEmptyTrimmedString)
}) {}

/**
 * A sticker (WebP).
 *
 * @since 0.1.0
 * @category models
 */
export class StickerMessage extends Schema.TaggedClass<StickerMessage>()("Sticker", Media) {}

/**
 * @since 0.1.0
 * @category models
 */
export class LocationMessage extends Schema.TaggedClass<LocationMessage>()("Location", {
  to: ChatId.FromString,
  latitude: Latitude,
  longitude: Longitude,
  name: Schema.optional(Schema.String),
  address: Schema.optional(Schema.String),
  ...Reply
}) {}

/**
 * A reaction to an earlier message; an empty `emoji` removes the reaction.
 *
 * @since 0.1.0
 * @category models
 */
export class ReactionMessage extends Schema.TaggedClass<ReactionMessage>()("Reaction", {
  to: ChatId.FromString,
  messageId: MessageId,
  emoji: Schema.String.check(Schema.isMaxLength(16, { message: "must be one emoji (or empty to remove)" }))
}) {}

/**
 * Media shown in a template's header.
 *
 * @since 0.1.0
 * @category models
 */
export const TemplateHeaderMedia = Schema.Struct({
  kind: Schema.Literals(["image", "video", "document"]),
  url: MediaUrl,
  filename: Schema.optional(Schema.String)
})

/**
 * A pre-approved template, the only kind WhatsApp lets a business send outside the 24 h window.
 * `name` is the provider's template identifier (a Meta name, a BotPenguin id, a Callbell uuid);
 * `variables` fill `{{1}}`, `{{2}}`, … in order.
 *
 * @since 0.1.0
 * @category models
 */
export class TemplateMessage extends Schema.TaggedClass<TemplateMessage>()("Template", {
  to: ChatId.FromString,
  name: NonEmptyTrimmedString,
  language: Schema.optional(Schema.String),
  variables: Schema.Array(Schema.NonEmptyString).pipe(
    Schema.withConstructorDefault(Effect.succeed([])),
    Schema.withDecodingDefault(Effect.succeed([]))
  ),
  headerMedia: Schema.optional(TemplateHeaderMedia)
}) {}

const ChoiceOptions = Schema.NonEmptyArray(
  Schema.String.check(Schema.makeFilter((s) => s.trim().length > 0 || "must not be empty"))
).check(
  Schema.makeFilter((options) =>
    new Set(options.map((o) => o.trim().toLowerCase())).size === options.length ||
    "must differ from each other (an answer names one of them)"
  )
)

/**
 * A question with options to choose from. Where the provider has interactive messages
 * (`capabilities.kinds` has `buttons`) the options are rendered as buttons or a list; elsewhere the
 * message is sent as the text {@link choiceText} writes (the body, then the options numbered), and a
 * user answers by number or by option. Either way, the answer comes back as text: the option's title.
 *
 * @since 0.1.0
 * @category models
 */
export class ButtonsMessage extends Schema.TaggedClass<ButtonsMessage>()("Buttons", {
  to: ChatId.FromString,
  body: Text,
  options: ChoiceOptions,
  ...Reply
}) {}

/**
 * Any outbound message. `Schema`-encodable, so journals and outboxes can store it.
 *
 * @since 0.1.0
 * @category models
 */
export const Message = Schema.Union([
  TextMessage,
  ImageMessage,
  VideoMessage,
  AudioMessage,
  DocumentMessage,
  StickerMessage,
  LocationMessage,
  ReactionMessage,
  TemplateMessage,
  ButtonsMessage
])

/**
 * @since 0.1.0
 * @category models
 */
export type Message = typeof Message.Type

/**
 * The kinds of message, as `capabilities` name them.
 *
 * @since 0.1.0
 * @category models
 */
export const Kind = Schema.Literals([
  "text",
  "image",
  "video",
  "audio",
  "document",
  "sticker",
  "location",
  "reaction",
  "template",
  "buttons"
])

/**
 * @since 0.1.0
 * @category models
 */
export type Kind = typeof Kind.Type

/**
 * The messages of the given kinds (`Of<"text" | "image">` is `TextMessage | ImageMessage`): what a
 * provider's driver receives once its capabilities have been checked.
 *
 * @since 0.1.0
 * @category models
 */
export type Of<K extends Kind> = Extract<Message, { readonly _tag: Capitalize<K> }>

/**
 * A message that carries media by URL.
 *
 * @since 0.1.0
 * @category models
 */
export type MediaMessage = ImageMessage | VideoMessage | AudioMessage | DocumentMessage | StickerMessage

/**
 * Every kind, in a stable order.
 *
 * @since 0.1.0
 * @category models
 */
export const kinds: ReadonlyArray<Kind> = Kind.literals

/**
 * The kind of a message.
 *
 * @since 0.1.0
 * @category accessors
 */
export const kind = (message: Message): Kind => message._tag.toLowerCase() as Kind

/**
 * The id of the message this one replies to, if any.
 *
 * @since 0.1.0
 * @category accessors
 */
export const replyTo = (message: Message): string | undefined => "replyTo" in message ? message.replyTo : undefined

// The constructors' arguments are checked by `validate` before any I/O (so a bad message is a typed
// `InvalidMessage`, not a throw); building one skips the checks.
const build = { disableChecks: true } as const

/**
 * A text message, optionally quoting an earlier message.
 *
 * @since 0.1.0
 * @category constructors
 */
export const text = (
  to: ChatId.ChatId,
  text: string,
  options?: { readonly replyTo?: string | undefined; readonly linkPreview?: boolean | undefined }
): TextMessage => new TextMessage({ to, text, ...options }, build)

/**
 * Options shared by media messages.
 *
 * @since 0.1.0
 * @category constructors
 */
export interface MediaOptions {
  readonly url: string
  readonly mimeType?: string | undefined
  /** The size in bytes, when known; checked against the 16 MB limit. */
  readonly sizeBytes?: number | undefined
  readonly replyTo?: string | undefined
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const image = (
  to: ChatId.ChatId,
  options: MediaOptions & { readonly caption?: string | undefined }
): ImageMessage => new ImageMessage({ to, ...options }, build)

/**
 * @since 0.1.0
 * @category constructors
 */
export const video = (
  to: ChatId.ChatId,
  options: MediaOptions & { readonly caption?: string | undefined }
): VideoMessage => new VideoMessage({ to, ...options }, build)

/**
 * @since 0.1.0
 * @category constructors
 */
export const audio = (to: ChatId.ChatId, options: MediaOptions): AudioMessage =>
  new AudioMessage({ to, ...options }, build)

/**
 * @since 0.1.0
 * @category constructors
 */
export const document = (
  to: ChatId.ChatId,
  options: MediaOptions & { readonly caption?: string | undefined; readonly filename?: string | undefined }
): DocumentMessage => new DocumentMessage({ to, ...options }, build)

/**
 * @since 0.1.0
 * @category constructors
 */
export const sticker = (to: ChatId.ChatId, options: MediaOptions): StickerMessage =>
  new StickerMessage({ to, ...options }, build)

/**
 * @since 0.1.0
 * @category constructors
 */
export const location = (
  to: ChatId.ChatId,
  options: {
    readonly latitude: number
    readonly longitude: number
    readonly name?: string | undefined
    readonly address?: string | undefined
    readonly replyTo?: string | undefined
  }
): LocationMessage => new LocationMessage({ to, ...options }, build)

/**
 * @since 0.1.0
 * @category constructors
 */
export const reaction = (
  to: ChatId.ChatId,
  options: { readonly messageId: string; readonly emoji: string }
): ReactionMessage => new ReactionMessage({ to, ...options }, build)

/**
 * @since 0.1.0
 * @category constructors
 */
export const template = (
  to: ChatId.ChatId,
  options: {
    readonly name: string
    readonly language?: string | undefined
    readonly variables?: ReadonlyArray<string> | undefined
    readonly headerMedia?: typeof TemplateHeaderMedia.Type | undefined
  }
): TemplateMessage => new TemplateMessage({ to, ...options, variables: options.variables ?? [] }, build)

/**
 * A question with options, rendered as buttons where the provider has them and as numbered text
 * elsewhere (see {@link ButtonsMessage}).
 *
 * @example
 * ```ts
 * Message.buttons(to, { body: "Pick a time", options: ["09:00", "11:00", "15:00"] })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const buttons = (
  to: ChatId.ChatId,
  options: {
    readonly body: string
    readonly options: readonly [string, ...Array<string>]
    readonly replyTo?: string | undefined
  }
): ButtonsMessage => new ButtonsMessage({ to, ...options }, build)

/**
 * The text a choice is sent as where there are no buttons: the body, then one numbered line per
 * option (`1. 09:00`).
 *
 * @since 0.1.0
 * @category rendering
 */
export const choiceText = (body: string, options: ReadonlyArray<string>): string =>
  `${body}\n${options.map((option, i) => `${i + 1}. ${option}`).join("\n")}`

/**
 * A choice as the text message it becomes for a provider without buttons.
 *
 * @since 0.1.0
 * @category rendering
 */
export const asText = (message: ButtonsMessage): TextMessage =>
  text(message.to, choiceText(message.body, message.options), { replyTo: message.replyTo })

// One parser per kind, derived once: each checks a message's fields (a class's own type only checks that
// it is an instance).
const validators = Object.fromEntries(
  Message.members.map((member) => [
    member.identifier,
    SchemaParser.decodeUnknownResult(Schema.toType(Schema.Struct(member.fields)))
  ])
) as unknown as Record<Message["_tag"], (u: unknown) => Result.Result<unknown, SchemaIssue.Issue>>

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * Checks a message against WhatsApp's limits before any I/O. The error names the field and the limit,
 * e.g. `text is 5000 characters; WhatsApp allows at most 4096`.
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = (message: Message, provider: string): Result.Result<Message, InvalidMessage> =>
  Result.match(validators[message._tag](message), {
    onSuccess: () => Result.succeed(message),
    onFailure: (error) => {
      const [issue] = formatIssues(error).issues
      const path = issue?.path ?? []
      return Result.fail(
        new InvalidMessage({
          provider,
          field: path.length > 0 ? path.join(".") : "message",
          reason: issue?.message ?? String(error)
        })
      )
    }
  })

const mimeTypes: Record<string, string> = {
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  gif: "image/gif",
  mp4: "video/mp4",
  "3gp": "video/3gpp",
  mov: "video/quicktime",
  webm: "video/webm",
  ogg: "audio/ogg",
  oga: "audio/ogg",
  opus: "audio/ogg",
  wav: "audio/wav",
  mp3: "audio/mpeg",
  m4a: "audio/mp4",
  aac: "audio/aac",
  amr: "audio/amr",
  pdf: "application/pdf",
  txt: "text/plain",
  csv: "text/csv",
  json: "application/json",
  doc: "application/msword",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  xls: "application/vnd.ms-excel",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  ppt: "application/vnd.ms-powerpoint",
  pptx: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  zip: "application/zip"
}

const fallbackMimeTypes = {
  Image: "image/jpeg",
  Sticker: "image/webp",
  Video: "video/mp4",
  Audio: "audio/ogg",
  Document: "application/octet-stream"
} as const

/**
 * The MIME type of a media message: the one given, else guessed from the file name or URL extension,
 * else a safe default for the kind. For providers whose API requires one.
 *
 * @since 0.1.0
 * @category accessors
 */
export const mimeType = (message: MediaMessage): string => {
  if (message.mimeType) return message.mimeType
  const name = (message._tag === "Document" && message.filename) || new URL(message.url).pathname
  const extension = name.slice(name.lastIndexOf(".") + 1).toLowerCase()
  return mimeTypes[extension] ?? fallbackMimeTypes[message._tag]
}

/**
 * A file name for a media message: the one given, else the last segment of the URL path.
 *
 * @since 0.1.0
 * @category accessors
 */
export const filename = (message: MediaMessage): string => {
  if (message._tag === "Document" && message.filename) return message.filename
  const last = new URL(message.url).pathname.split("/").pop()
  return last && last.length > 0 ? decodeURIComponent(last) : message._tag.toLowerCase()
}
