/**
 * Parley's `MessagingService` over Meta's WhatsApp Cloud API: `POST /{version}/{phone-number-id}/messages`
 * with a bearer token (a system user's access token).
 *
 * It sends text (with link previews), image, video, audio, document and sticker by link (or, with
 * `uploadMedia`, uploaded to `/media` and sent by id), location, reactions, replies (`context`),
 * templates with their components, and choices as interactive reply buttons (up to 3 options of 20
 * characters) or a list (up to 10 options of 24 characters): a choice that fits neither goes out as
 * numbered text. {@link markAsRead} gives a user's message blue ticks.
 *
 * A send is accepted, not delivered: the receipt's status is `accepted`, and what becomes of the message
 * arrives by webhook (`MetaWebhook`). Errors are classified by Meta's `error.code`, not the HTTP status
 * (core's `MetaError.table`): rate limits (130429, 131056, 131048, 80007, 4) are `RateLimited`, 131047
 * (outside the 24 h window) is `WindowClosed`, 131026 (undeliverable) is `RecipientUnavailable`, 1, 2,
 * 131000 and 131016 are `ProviderUnavailable`, parameter and template errors are `InvalidMessage`, and
 * what is wrong with the account rather than the message is `Unauthorized`, which fails over: the token
 * (190), permissions, a phone number id that does not exist or that the token may not use (100 with
 * subcode 33), an account blocked for policy violations (368), locked (131031) or unpaid (131042).
 *
 * @example
 * ```ts
 * import { Meta } from "@parley/meta"
 * import { ChatId, Message, MessagingService } from "@parley/core"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Redacted } from "effect"
 *
 * const program = MessagingService.send(
 *   Message.buttons(ChatId.phone("+14155550123"), { body: "Pick a time", options: ["09:00", "11:00"] })
 * )
 * program.pipe(
 *   Effect.provide(Meta.layer({ phoneNumberId: "106540352242922", accessToken: Redacted.make(token) })),
 *   Effect.provide(NodeHttpClient.layerUndici)
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Capabilities, ChatId, Message, MessagingError, type MessagingService, RateLimit } from "@parley/core"
import { HttpTransport, MetaCloud, MetaError, Provider } from "@parley/core/provider"
import * as Config from "effect/Config"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Api from "./MetaApi.js"

/**
 * The provider's name in receipts, errors and metrics.
 *
 * @since 0.1.0
 * @category constants
 */
export const provider = Api.provider

/**
 * What the Cloud API carries: every kind Parley has, choices as interactive messages, replies to all
 * but reactions and templates, to phone numbers. Webhooks report users' messages and
 * `sent`/`delivered`/`read`/`failed`.
 *
 * @since 0.1.0
 * @category constants
 */
export const capabilities = Capabilities.make({
  kinds: ["text", "image", "video", "audio", "document", "sticker", "location", "reaction", "template", "buttons"],
  replies: ["text", "image", "video", "audio", "document", "sticker", "location", "buttons"],
  chats: ["phone"],
  inboundMessages: true,
  statuses: ["sent", "delivered", "read", "played", "failed"]
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends MessagingService.Options {
  /** The business phone number's id (not the number itself). */
  readonly phoneNumberId: string
  /** A system user's (or the app's test) access token. */
  readonly accessToken: Redacted.Redacted
  /** The Graph API host (default `https://graph.facebook.com`). */
  readonly baseUrl?: string | undefined
  /** The Graph API version (default {@link Api.defaultApiVersion}). */
  readonly apiVersion?: string | undefined
  /** How long to wait for an answer (default 30 s). */
  readonly timeout?: Duration.Input | undefined
  /**
   * Fetch each message's media and upload it to `/media`, then send it by id (default: send the link,
   * which Meta fetches itself). Media over Meta's limit for its kind (images 5 MB) is `Unsupported`.
   */
  readonly uploadMedia?: boolean | undefined
  /** The language of templates that name none (default `en_US`). */
  readonly templateLanguage?: string | undefined
  /** The label of the button that opens a list of more than 3 options (default `Options`). */
  readonly listButton?: string | undefined
}

// Sends, uploads and read marks share one transport: Graph API host, bearer token, errors by code.
const transport = (options: Options) =>
  HttpTransport.make({
    provider,
    baseUrl: options.baseUrl ?? Api.defaultBaseUrl,
    authorize: HttpClientRequest.bearerToken(options.accessToken),
    classify: MetaError.classify,
    timeout: options.timeout
  })

type Interactive = typeof Api.InteractiveRequest.Type["interactive"]

/**
 * A choice as Meta's interactive message: reply buttons for up to 3 options of at most 20 characters, a
 * list for up to 10 of at most 24; `None` when the choice fits neither (it is then sent as text). Each
 * option's id is its position, from `1`.
 *
 * @since 0.1.0
 * @category rendering
 */
export const interactive = (message: Message.ButtonsMessage, listButton = "Options"): Option.Option<Interactive> => {
  const { body, options } = message
  const limits = Api.interactiveLimits
  const fits = (length: number) => options.every((option) => option.length <= length)
  if (body.length > limits.body) return Option.none()
  if (options.length <= limits.buttons && fits(limits.buttonTitle)) {
    return Option.some({
      type: "button",
      body: { text: body },
      action: { buttons: options.map((title, i) => ({ type: "reply", reply: { id: String(i + 1), title } })) }
    })
  }
  if (options.length <= limits.rows && fits(limits.rowTitle)) {
    return Option.some({
      type: "list",
      body: { text: body },
      action: { button: listButton, sections: [{ rows: options.map((title, i) => ({ id: String(i + 1), title })) }] }
    })
  }
  return Option.none()
}

type Sendable = Message.Of<Capabilities.Kinds<typeof capabilities>>

const driver = (options: Options) =>
  Effect.gen(function*() {
    const api = yield* transport(options)
    // Media is fetched without the Graph API's host or token.
    const mediaClient = yield* HttpClient.HttpClient
    const version = options.apiVersion ?? Api.defaultApiVersion
    const path = Api.messagesPath(version, options.phoneNumberId)

    const upload = (message: Message.MediaMessage, chat: string) => {
      const kind = Message.kind(message) as keyof typeof Api.mediaLimits
      const type = Message.mimeType(message)
      const limit = Math.min(Api.mediaLimits[kind], Message.limits.mediaBytes)
      if (!Api.uploadMimeTypes[kind].includes(type)) {
        return Effect.fail(new MessagingError.Unsupported({ provider, feature: `${kind} uploads as ${type}` }))
      }
      return HttpTransport.fetchMedia(mediaClient, message, {
        provider,
        limit,
        timeout: options.timeout,
        tooLarge: ({ at, described }) =>
          new MessagingError.Unsupported({
            provider,
            feature: `${kind} over ${limit} bytes (media at ${at} ${described})`
          })
      }).pipe(
        Effect.flatMap((bytes) =>
          HttpTransport.multipart({ [Api.uploadFields.product]: "whatsapp", [Api.uploadFields.type]: type }, {
            field: Api.uploadFields.file,
            bytes,
            type,
            name: Message.filename(message)
          })
        ),
        Effect.flatMap((body) =>
          api.execute(
            HttpClientRequest.setBody(HttpClientRequest.post(Api.mediaPath(version, options.phoneNumberId)), body),
            Api.UploadResponse,
            { chat }
          )
        ),
        Effect.map(({ id }) => ({ id }))
      )
    }

    const media = (message: Message.MediaMessage, chat: string) => {
      const caption = "caption" in message && message.caption !== undefined ? { caption: message.caption } : {}
      const filename = message._tag === "Document" ? { filename: Message.filename(message) } : {}
      const source: Effect.Effect<{ readonly id: string } | { readonly link: string }, MessagingError.MessagingError> =
        options.uploadMedia ? upload(message, chat) : Effect.succeed({ link: message.url })
      return Effect.map(source, (object) => ({ ...object, ...caption, ...filename }))
    }

    const send = (
      message: Sendable
    ): Effect.Effect<MessagingService.ProviderReceipt, MessagingError.MessagingError> => {
      const to = ChatId.toDigits(message.to)
      const replyTo = Message.replyTo(message)
      const head = {
        messaging_product: "whatsapp",
        recipient_type: "individual",
        to,
        ...(replyTo === undefined ? {} : { context: { message_id: replyTo } })
      } as const
      const post = (body: Api.SendRequest) =>
        Effect.flatMap(api.call(Api.sendMessage, body, { chat: to, path }), (answer) =>
          answer.messages.length > 0
            ? Effect.succeed({ messageId: answer.messages[0]!.id, status: "accepted" as const })
            : Effect.fail(new MessagingError.DeliveryUnknown({ provider, reason: "accepted, but with no message id" })))
      switch (message._tag) {
        case "Text":
          return post({ ...head, type: "text", text: { body: message.text, preview_url: message.linkPreview } })
        case "Image":
          return Effect.flatMap(media(message, to), (image) => post({ ...head, type: "image", image }))
        case "Video":
          return Effect.flatMap(media(message, to), (video) => post({ ...head, type: "video", video }))
        case "Audio":
          return Effect.flatMap(media(message, to), (audio) => post({ ...head, type: "audio", audio }))
        case "Document":
          return Effect.flatMap(media(message, to), (document) => post({ ...head, type: "document", document }))
        case "Sticker":
          return Effect.flatMap(media(message, to), (sticker) => post({ ...head, type: "sticker", sticker }))
        case "Location": {
          const { address, latitude, longitude, name } = message
          return post({ ...head, type: "location", location: { latitude, longitude, name, address } })
        }
        case "Reaction":
          return post({ ...head, type: "reaction", reaction: { message_id: message.messageId, emoji: message.emoji } })
        case "Template": {
          const components = MetaCloud.components(message)
          return post({
            ...head,
            type: "template",
            template: {
              name: message.name,
              language: { code: message.language ?? options.templateLanguage ?? "en_US" },
              ...(components.length === 0 ? {} : { components })
            }
          })
        }
        case "Buttons":
          return Option.match(interactive(message, options.listButton), {
            onSome: (content) => post({ ...head, type: "interactive", interactive: content }),
            onNone: () => send(Message.asText(message))
          })
      }
    }

    return { provider, capabilities, send }
  })

/**
 * The business phone number that `options` send from, as Meta knows it (its display number, verified
 * name and quality rating). It changes nothing, so it checks the settings: a token Meta does not take is
 * `Unauthorized` (code 190), and so is a phone number id the token may not use or that does not exist
 * (code 100, subcode 33).
 *
 * @since 0.1.0
 * @category operations
 */
export const phoneNumber = Effect.fn("Meta.phoneNumber")(function*(options: Options) {
  const api = yield* transport(options)
  const path = Api.phoneNumberPath(options.apiVersion ?? Api.defaultApiVersion, options.phoneNumberId)
  return yield* api.call(Api.phoneNumber, undefined, { path })
})

/**
 * Marks a message a user sent as read (with the earlier ones in the chat): the user sees blue ticks.
 *
 * @since 0.1.0
 * @category operations
 */
export const markAsRead = Effect.fn("Meta.markAsRead")(function*(options: Options, messageId: string) {
  const api = yield* transport(options)
  const path = Api.messagesPath(options.apiVersion ?? Api.defaultApiVersion, options.phoneNumberId)
  yield* api.call(Api.markRead, { messaging_product: "whatsapp", status: "read", message_id: messageId } as const, {
    path
  })
})

/**
 * The settings `layerConfig` reads by default: `PARLEY_META_PHONE_NUMBER_ID`, `PARLEY_META_ACCESS_TOKEN`,
 * and optionally `PARLEY_META_BASE_URL`, `PARLEY_META_API_VERSION`, `PARLEY_META_UPLOAD_MEDIA`
 * (`true`/`false`), `PARLEY_META_TEMPLATE_LANGUAGE`, `PARLEY_META_LIST_BUTTON` and
 * `PARLEY_META_RATE_LIMIT` / `PARLEY_META_RATE_LIMIT_BURST`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  phoneNumberId: Config.String("PARLEY_META_PHONE_NUMBER_ID"),
  accessToken: Config.Redacted("PARLEY_META_ACCESS_TOKEN"),
  baseUrl: Config.withDefault(Config.String("PARLEY_META_BASE_URL"), Api.defaultBaseUrl),
  apiVersion: Config.withDefault(Config.String("PARLEY_META_API_VERSION"), Api.defaultApiVersion),
  uploadMedia: Config.withDefault(Config.Boolean("PARLEY_META_UPLOAD_MEDIA"), false),
  templateLanguage: Config.withDefault(Config.String("PARLEY_META_TEMPLATE_LANGUAGE"), "en_US"),
  listButton: Config.withDefault(Config.String("PARLEY_META_LIST_BUTTON"), "Options"),
  rateLimit: RateLimit.config("PARLEY_META")
})

/**
 * `make(options)`: the service over an `HttpClient`; `layer(options)`; `layerConfig(config?)`: the
 * layer with options from `Config` (by default {@link config}).
 *
 * @since 0.1.0
 * @category layers
 */
export const { layer, layerConfig, make } = Provider.define({ driver, config })
