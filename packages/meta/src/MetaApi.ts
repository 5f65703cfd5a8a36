/**
 * Meta's WhatsApp Cloud API (Graph API) wire format as `Schema`s: the single source of truth for the
 * client, the webhook decoder and the emulator. Sources: developers.facebook.com/documentation/
 * business-messaging/whatsapp (messages, media, mark as read, interactive reply buttons and list
 * messages, webhooks reference, error codes); see `providers.md` §6.
 *
 * Sends are `POST /{version}/{phone-number-id}/messages` with `Authorization: Bearer <token>`; a send is
 * answered with acceptance only (`messages[0].id`, a `wamid.`), and what becomes of it arrives as
 * `statuses` webhooks. Errors are `{ error: { code, … } }` objects, classified by `code` (core's
 * `MetaError`), since Meta answers 400 for rate limits that proxies turn into 429.
 *
 * @since 0.1.0
 */
import { HttpTransport, MetaCloud, MetaError, type ProviderWebhook, WireSchema } from "@parley/core/provider"
import * as Schema from "effect/Schema"

/**
 * The provider's name in receipts, errors, metrics and webhook paths.
 *
 * @since 0.1.0
 * @category constants
 */
export const provider = "meta"

/**
 * The Graph API host.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "https://graph.facebook.com"

/**
 * The Graph API version used unless configured otherwise.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultApiVersion = "v23.0"

/**
 * WhatsApp's limits on interactive messages: at most 3 reply buttons of 20 characters, at most 10 list
 * rows of 24 characters under a list button of 20, a body of 1,024 characters.
 *
 * @since 0.1.0
 * @category limits
 */
export const interactiveLimits = {
  buttons: 3,
  buttonTitle: 20,
  rows: 10,
  rowTitle: 24,
  listButton: 20,
  body: 1024,
  footer: 60
} as const

/**
 * The largest media Meta sends, per kind, in bytes (stickers: animated; static ones 100 KB).
 *
 * @since 0.1.0
 * @category limits
 */
export const mediaLimits = {
  image: 5 * 1024 * 1024,
  video: 16 * 1024 * 1024,
  audio: 16 * 1024 * 1024,
  document: 100 * 1024 * 1024,
  sticker: 500 * 1024
} as const

const upTo = (limit: number) =>
  Schema.String.check(Schema.isMaxLength(limit, { message: `must be at most ${limit} characters` }))

/**
 * `/{version}/{phone-number-id}/messages`.
 *
 * @since 0.1.0
 * @category paths
 */
export const messagesPath = (version: string, phoneNumberId: string): `/${string}` =>
  `/${version}/${encodeURIComponent(phoneNumberId)}/messages`

/**
 * `/{version}/{phone-number-id}/media`, where media is uploaded.
 *
 * @since 0.1.0
 * @category paths
 */
export const mediaPath = (version: string, phoneNumberId: string): `/${string}` =>
  `/${version}/${encodeURIComponent(phoneNumberId)}/media`

/**
 * `/{version}/{phone-number-id}`, the business phone number itself.
 *
 * @since 0.1.0
 * @category paths
 */
export const phoneNumberPath = (version: string, phoneNumberId: string): `/${string}` =>
  `/${version}/${encodeURIComponent(phoneNumberId)}`

/**
 * `/{version}/{media-id}`, where a media id is turned into a download URL.
 *
 * @since 0.1.0
 * @category paths
 */
export const mediaInfoPath = (version: string, mediaId: string): `/${string}` =>
  `/${version}/${encodeURIComponent(mediaId)}`

const envelope = {
  messaging_product: Schema.Literal("whatsapp"),
  recipient_type: Schema.optional(Schema.Literal("individual")),
  /** The recipient's number: country code and digits. */
  to: Schema.String,
  /** The message this one replies to. */
  context: Schema.optional(Schema.Struct({ message_id: Schema.String }))
}

/**
 * Media by `link` (an http(s) URL Meta fetches) or by `id` (uploaded to `/media`).
 *
 * @since 0.1.0
 * @category requests
 */
export const MediaObject = Schema.Struct({
  link: Schema.optional(MetaCloud.Link),
  id: Schema.optional(Schema.String),
  caption: Schema.optional(upTo(1024)),
  /** Documents only. */
  filename: Schema.optional(Schema.String)
}).check(
  Schema.makeFilter((media) => (media.link === undefined) !== (media.id === undefined) || "must have a link or an id")
)

/**
 * @since 0.1.0
 * @category requests
 */
export const TextRequest = Schema.Struct({
  ...envelope,
  type: Schema.Literal("text"),
  text: Schema.Struct({ body: upTo(4096), preview_url: Schema.optional(Schema.Boolean) })
})

/**
 * @since 0.1.0
 * @category requests
 */
export const ImageRequest = Schema.Struct({ ...envelope, type: Schema.Literal("image"), image: MediaObject })

/**
 * @since 0.1.0
 * @category requests
 */
export const VideoRequest = Schema.Struct({ ...envelope, type: Schema.Literal("video"), video: MediaObject })

/**
 * @since 0.1.0
 * @category requests
 */
export const AudioRequest = Schema.Struct({ ...envelope, type: Schema.Literal("audio"), audio: MediaObject })

/**
 * @since 0.1.0
 * @category requests
 */
export const DocumentRequest = Schema.Struct({ ...envelope, type: Schema.Literal("document"), document: MediaObject })

/**
 * @since 0.1.0
 * @category requests
 */
export const StickerRequest = Schema.Struct({ ...envelope, type: Schema.Literal("sticker"), sticker: MediaObject })

/**
 * @since 0.1.0
 * @category requests
 */
export const LocationRequest = Schema.Struct({
  ...envelope,
  type: Schema.Literal("location"),
  location: Schema.Struct({
    latitude: Schema.Number,
    longitude: Schema.Number,
    name: Schema.optional(Schema.String),
    address: Schema.optional(Schema.String)
  })
})

/**
 * A reaction; an empty `emoji` removes it.
 *
 * @since 0.1.0
 * @category requests
 */
export const ReactionRequest = Schema.Struct({
  ...envelope,
  type: Schema.Literal("reaction"),
  reaction: Schema.Struct({ message_id: Schema.String, emoji: Schema.String })
})

/**
 * An approved template with its components (core's `MetaCloud.Component`).
 *
 * @since 0.1.0
 * @category requests
 */
export const TemplateRequest = Schema.Struct({
  ...envelope,
  type: Schema.Literal("template"),
  template: Schema.Struct({
    name: Schema.String,
    language: Schema.Struct({ code: Schema.String }),
    components: Schema.optional(Schema.Array(MetaCloud.Component))
  })
})

const interactiveText = { body: Schema.Struct({ text: upTo(interactiveLimits.body) }) }

/**
 * Reply buttons: at most 3, titles of at most 20 characters. A tap comes back as a `button_reply` with
 * the button's `id` and `title`.
 *
 * @since 0.1.0
 * @category requests
 */
export const ButtonInteractive = Schema.Struct({
  type: Schema.Literal("button"),
  ...interactiveText,
  action: Schema.Struct({
    buttons: Schema.Array(Schema.Struct({
      type: Schema.Literal("reply"),
      reply: Schema.Struct({ id: upTo(256), title: upTo(interactiveLimits.buttonTitle) })
    })).check(Schema.isMinLength(1), Schema.isMaxLength(interactiveLimits.buttons))
  })
})

/**
 * A list: a button (at most 20 characters) opening sections of rows, at most 10 rows in all, titles of
 * at most 24 characters. A choice comes back as a `list_reply`.
 *
 * @since 0.1.0
 * @category requests
 */
export const ListInteractive = Schema.Struct({
  type: Schema.Literal("list"),
  ...interactiveText,
  action: Schema.Struct({
    button: upTo(interactiveLimits.listButton),
    sections: Schema.Array(Schema.Struct({
      title: Schema.optional(upTo(24)),
      rows: Schema.Array(Schema.Struct({
        id: upTo(200),
        title: upTo(interactiveLimits.rowTitle),
        description: Schema.optional(upTo(72))
      }))
    })).check(
      Schema.isMinLength(1),
      Schema.makeFilter((sections) =>
        sections.reduce((rows, section) => rows + section.rows.length, 0) <= interactiveLimits.rows ||
        `must have at most ${interactiveLimits.rows} rows in all`
      )
    )
  })
})

/**
 * @since 0.1.0
 * @category requests
 */
export const InteractiveRequest = Schema.Struct({
  ...envelope,
  type: Schema.Literal("interactive"),
  interactive: Schema.Union([ButtonInteractive, ListInteractive])
})

/**
 * Any message `POST /{version}/{phone-number-id}/messages` sends.
 *
 * @since 0.1.0
 * @category requests
 */
export const SendRequest = Schema.Union([
  TextRequest,
  ImageRequest,
  VideoRequest,
  AudioRequest,
  DocumentRequest,
  StickerRequest,
  LocationRequest,
  ReactionRequest,
  TemplateRequest,
  InteractiveRequest
])

/**
 * @since 0.1.0
 * @category requests
 */
export type SendRequest = typeof SendRequest.Type

/**
 * Marks a received message (and the earlier ones in the chat) as read: blue ticks for the user.
 *
 * @since 0.1.0
 * @category requests
 */
export const MarkReadRequest = Schema.Struct({
  messaging_product: Schema.Literal("whatsapp"),
  status: Schema.Literal("read"),
  message_id: Schema.String
})

/**
 * @since 0.1.0
 * @category responses
 */
export const SuccessResponse = Schema.Struct({ success: Schema.Boolean })

/**
 * The answer to a media upload.
 *
 * @since 0.1.0
 * @category responses
 */
export const UploadResponse = Schema.Struct({ id: Schema.String })

/**
 * `GET /{version}/{media-id}`: a short-lived download URL (fetched with the same bearer token) and what
 * it holds.
 *
 * @since 0.1.0
 * @category responses
 */
export const MediaInfo = Schema.Struct({
  messaging_product: Schema.optional(Schema.String),
  url: Schema.String,
  mime_type: Schema.String,
  sha256: Schema.optional(Schema.String),
  file_size: Schema.optional(WireSchema.LooseNumber),
  id: Schema.String
})

/**
 * `GET /{version}/{phone-number-id}`: the business phone number, as Meta knows it (its default fields).
 *
 * @since 0.1.0
 * @category responses
 */
export const PhoneNumber = Schema.Struct({
  id: Schema.String,
  display_phone_number: Schema.optional(Schema.String),
  verified_name: Schema.optional(Schema.String),
  quality_rating: Schema.optional(Schema.String)
})

/**
 * Every failure: a Meta error object.
 *
 * @since 0.1.0
 * @category responses
 */
export const ErrorResponse = MetaError.ErrorBody

/**
 * Sends a message (the caller gives the path: {@link messagesPath}).
 *
 * @since 0.1.0
 * @category endpoints
 */
export const sendMessage = HttpTransport.post("/:version/:phoneNumberId/messages", SendRequest, MetaCloud.SendResponse)

/**
 * Marks a message as read (the same path as sends).
 *
 * @since 0.1.0
 * @category endpoints
 */
export const markRead = HttpTransport.post("/:version/:phoneNumberId/messages", MarkReadRequest, SuccessResponse)

/**
 * Reads the business phone number (the caller gives the path: {@link phoneNumberPath}): it changes
 * nothing, and answers only to a token that may use the number.
 *
 * @since 0.1.0
 * @category endpoints
 */
export const phoneNumber = HttpTransport.get("/:version/:phoneNumberId", PhoneNumber)

/**
 * Turns a media id into its download URL (the caller gives the path: {@link mediaInfoPath}).
 *
 * @since 0.1.0
 * @category endpoints
 */
export const mediaInfo = HttpTransport.get("/:version/:mediaId", MediaInfo)

/**
 * The multipart field names of a media upload.
 *
 * @since 0.1.0
 * @category requests
 */
export const uploadFields = { file: "file", type: "type", product: "messaging_product" } as const

/**
 * The MIME types Meta accepts in an upload, per kind.
 *
 * @since 0.1.0
 * @category limits
 */
export const uploadMimeTypes: Readonly<Record<keyof typeof mediaLimits, ReadonlyArray<string>>> = {
  image: ["image/jpeg", "image/png"],
  video: ["video/mp4", "video/3gpp"],
  audio: ["audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"],
  document: [
    "text/plain",
    "application/pdf",
    "application/vnd.ms-powerpoint",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
  ],
  sticker: ["image/webp"]
}

// ---------------------------------------------------------------------------------------------------
// webhooks
// ---------------------------------------------------------------------------------------------------

/**
 * The header webhooks are signed in: `sha256=<hex HMAC-SHA256 of the raw body with the app secret>`.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const signatureHeader = "X-Hub-Signature-256"

/**
 * How webhooks are signed, for `ProviderWebhook.verifyHmac` and `ProviderWebhook.sign`.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const signature = (appSecret: ProviderWebhook.HmacOptions["secret"]): ProviderWebhook.HmacOptions => ({
  secret: appSecret,
  header: signatureHeader,
  algorithm: "sha256",
  prefix: "sha256="
})

/**
 * The parameters of the verification request Meta sends before it posts to a webhook URL:
 * `GET ?hub.mode=subscribe&hub.verify_token=<yours>&hub.challenge=<to echo>`.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const challengeParams = { mode: "hub.mode", token: "hub.verify_token", challenge: "hub.challenge" } as const

/**
 * An error in a webhook: on a failed status, on an unsupported message, or for the whole delivery.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const WebhookError = Schema.Struct({
  code: Schema.Number,
  title: Schema.optional(Schema.String),
  message: Schema.optional(Schema.String),
  error_data: Schema.optional(Schema.Struct({ details: Schema.optional(Schema.String) })),
  href: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category webhooks
 */
export type WebhookError = typeof WebhookError.Type

/**
 * Media a user sent: its id (turned into a URL with {@link mediaInfo}), type and caption. Newer
 * deliveries also carry the download `url` (which, like the looked-up one, needs the access token).
 *
 * @since 0.1.0
 * @category webhooks
 */
export const InboundMedia = Schema.Struct({
  id: Schema.String,
  mime_type: Schema.optional(Schema.String),
  sha256: Schema.optional(Schema.String),
  caption: Schema.optional(Schema.String),
  /** Documents. */
  filename: Schema.optional(Schema.String),
  /** Stickers. */
  animated: Schema.optional(Schema.Boolean),
  /** Audio recorded as a voice note. */
  voice: Schema.optional(Schema.Boolean),
  url: Schema.optional(Schema.String)
})

/**
 * A tapped reply button or list row: the `id` and `title` the business gave it.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const InteractiveReply = Schema.Struct({
  id: Schema.String,
  title: Schema.String,
  description: Schema.optional(Schema.String)
})

/**
 * What a message says about other messages: the message it replies to (`from`, `id`; for a tapped
 * button, the message with the button), or that it was forwarded (`forwarded`, or
 * `frequently_forwarded` past five forwards) with no `id` at all, or the catalog product it asks about.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const Context = Schema.Struct({
  from: Schema.optional(Schema.String),
  id: Schema.optional(Schema.String),
  forwarded: Schema.optional(Schema.Boolean),
  frequently_forwarded: Schema.optional(Schema.Boolean),
  referred_product: Schema.optional(Schema.Struct({
    catalog_id: Schema.optional(Schema.String),
    product_retailer_id: Schema.optional(Schema.String)
  }))
})

/**
 * A user's profile, as `value.contacts[]` gives it. `user_id` is the business-scoped user id (BSUID) Meta
 * adds to every delivery since April 2026; `wa_id` (the phone number) is left out for a user who
 * adopted a username and did not share their number.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const Contact = Schema.Struct({
  profile: Schema.optional(
    Schema.Struct({ name: Schema.optional(Schema.String), username: Schema.optional(Schema.String) })
  ),
  wa_id: Schema.optional(Schema.String),
  user_id: Schema.optional(Schema.String),
  parent_user_id: Schema.optional(Schema.String)
})

/**
 * A message a user sent (`value.messages[]`): `type` says which field carries the content. Also
 * `system` (the user changed number), `revoke` (a message deleted), `edit`, `request_welcome`,
 * `contacts`, `order`, and `unsupported` (with `errors`); `referral` when the chat came from an ad;
 * `group_id` when it was written in a group; `from_user_id` (the BSUID) beside or, for a username
 * without a shared number, instead of `from`.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const InboundMessage = Schema.Struct({
  from: Schema.String,
  from_user_id: Schema.optional(Schema.String),
  group_id: Schema.optional(Schema.String),
  id: Schema.String,
  /** Unix seconds, as a string. */
  timestamp: Schema.String,
  type: Schema.String,
  context: Schema.optional(Context),
  text: Schema.optional(Schema.Struct({ body: Schema.String })),
  image: Schema.optional(InboundMedia),
  video: Schema.optional(InboundMedia),
  audio: Schema.optional(InboundMedia),
  document: Schema.optional(InboundMedia),
  sticker: Schema.optional(InboundMedia),
  location: Schema.optional(Schema.Struct({
    latitude: Schema.Number,
    longitude: Schema.Number,
    name: Schema.optional(Schema.String),
    address: Schema.optional(Schema.String),
    url: Schema.optional(Schema.String)
  })),
  /** `emoji` is absent (or empty) when the user removed the reaction. */
  reaction: Schema.optional(Schema.Struct({ message_id: Schema.String, emoji: Schema.optional(Schema.String) })),
  interactive: Schema.optional(Schema.Struct({
    type: Schema.String,
    button_reply: Schema.optional(InteractiveReply),
    list_reply: Schema.optional(InteractiveReply),
    /** A WhatsApp Flow's answer. */
    nfm_reply: Schema.optional(Schema.Struct({
      name: Schema.optional(Schema.String),
      body: Schema.optional(Schema.String),
      response_json: Schema.optional(Schema.String)
    }))
  })),
  /** A template's quick-reply button. */
  button: Schema.optional(Schema.Struct({ text: Schema.String, payload: Schema.optional(Schema.String) })),
  system: Schema.optional(Schema.Struct({
    body: Schema.optional(Schema.String),
    type: Schema.optional(Schema.String),
    wa_id: Schema.optional(Schema.String)
  })),
  referral: Schema.optional(Schema.Struct({
    source_url: Schema.optional(Schema.String),
    source_id: Schema.optional(Schema.String),
    source_type: Schema.optional(Schema.String),
    headline: Schema.optional(Schema.String),
    body: Schema.optional(Schema.String),
    ctwa_clid: Schema.optional(Schema.String)
  })),
  errors: Schema.optional(Schema.Array(WebhookError)),
  unsupported: Schema.optional(Schema.Struct({ type: Schema.optional(Schema.String) }))
})

/**
 * @since 0.1.0
 * @category webhooks
 */
export type InboundMessage = typeof InboundMessage.Type

/**
 * What became of a message we sent (`value.statuses[]`): `sent`, `delivered`, `read`, `played` (a voice
 * message played for the first time) or `failed`, whose `errors` say why. In a group, `recipient_id` is
 * the group and `recipient_type` is `group`. Under per-message pricing (from July 2025) `pricing` has a
 * `type` and `conversation` may be left out.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const Status = Schema.Struct({
  id: Schema.String,
  status: Schema.String,
  errors: Schema.optional(Schema.Array(WebhookError)),
  /** Unix seconds, as a string. */
  timestamp: Schema.String,
  recipient_id: Schema.String,
  recipient_type: Schema.optional(Schema.String),
  recipient_user_id: Schema.optional(Schema.String),
  biz_opaque_callback_data: Schema.optional(Schema.String),
  conversation: Schema.optional(Schema.Struct({
    id: Schema.String,
    expiration_timestamp: Schema.optional(Schema.String),
    origin: Schema.optional(Schema.Struct({ type: Schema.String }))
  })),
  pricing: Schema.optional(Schema.Struct({
    billable: Schema.optional(Schema.Boolean),
    pricing_model: Schema.optional(Schema.String),
    category: Schema.optional(Schema.String),
    type: Schema.optional(Schema.String)
  }))
})

/**
 * @since 0.1.0
 * @category webhooks
 */
export type Status = typeof Status.Type

/**
 * A `messages` change: the number it is for, the users' profiles, and messages, statuses or errors.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const Value = Schema.Struct({
  messaging_product: Schema.Literal("whatsapp"),
  metadata: Schema.Struct({ display_phone_number: Schema.String, phone_number_id: Schema.String }),
  contacts: Schema.optional(Schema.Array(Contact)),
  messages: Schema.optional(Schema.Array(InboundMessage)),
  statuses: Schema.optional(Schema.Array(Status)),
  errors: Schema.optional(Schema.Array(WebhookError))
})

/**
 * The body of every webhook: `{ object: "whatsapp_business_account", entry: [{ id, changes: [{ field,
 * value }] }] }`.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const WebhookBody = Schema.Struct({
  object: Schema.String,
  entry: Schema.Array(Schema.Struct({
    id: Schema.String,
    changes: Schema.Array(Schema.Struct({ field: Schema.String, value: Schema.Unknown }))
  }))
})
