/**
 * Parley's `MessagingService` over BotPenguin's WhatsApp Cloud API (api.v7.botpenguin.com and its
 * white labels: express-chat.com, m1bot, EkoChat Connect, Reekolect, s10u.ai, Skoobot). A send-only
 * provider: text, image, document and templates go out; no webhooks are documented.
 *
 * @example
 * ```ts
 * import { BotPenguin } from "@parley/botpenguin"
 * import { ChatId, Message, MessagingService } from "@parley/core"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Redacted } from "effect"
 *
 * const program = MessagingService.send(
 *   Message.template(ChatId.phone("+14155550123"), { name: "65f1c0ffee", variables: ["Ada"] })
 * )
 * program.pipe(
 *   Effect.provide(BotPenguin.layer({ apiKey: Redacted.make(key) })),
 *   Effect.provide(NodeHttpClient.layerUndici)
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import {
  Capabilities,
  ChatId,
  HttpTransport,
  type Message,
  MessagingError,
  MessagingService,
  MetaError,
  RateLimit
} from "@parley/core"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { flow } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import * as Api from "./BotPenguinApi.js"

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
 * The prefix of the receipt id when BotPenguin's answer carries no message id (its success body is
 * undocumented): `botpenguin-local-<uuid>`, made by the client, unknown to BotPenguin.
 *
 * @since 0.1.0
 * @category constants
 */
export const localIdPrefix = "botpenguin-local-"

/**
 * What BotPenguin carries: text, image, document and templates (the documented kinds), without
 * replies. It documents no webhooks, so no inbound messages and no delivery statuses.
 *
 * @since 0.1.0
 * @category constants
 */
export const capabilities: Capabilities.Capabilities = Capabilities.make({
  kinds: ["text", "image", "document", "template"],
  replies: [],
  inboundMessages: false,
  statuses: [],
  idempotencyKeys: false
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends MessagingService.Options {
  /** The API host (default {@link defaultBaseUrl}); set it for a white label. */
  readonly baseUrl?: string | undefined
  readonly apiKey: Redacted.Redacted
  /**
   * The contact display name BotPenguin requires with every send (`userName`): a fixed name, or one
   * per recipient. Default: the recipient's number (`+31612345678`).
   */
  readonly userName?: string | ((to: ChatId.ChatId) => string) | undefined
  /** Conversation tags to set with every send (`tags`; default none). */
  readonly tags?: ReadonlyArray<string> | undefined
  /** How long to wait for an answer (default 30 s). */
  readonly timeout?: Duration.DurationInput | undefined
}

const isMetaError = Schema.is(Api.ErrorResponse)

// Meta error objects decide first, whatever the status (Meta answers 400 for rate limits, proxies
// 429); a 2xx is accepted unless it carries an explicit `{ error: { code } }`.
const classify: HttpTransport.Classifier = (answer) => {
  const success = answer.status >= 200 && answer.status < 300
  if (success && !isMetaError(answer.body)) return undefined
  const meta = MetaError.classify(answer)
  if (meta !== undefined || !success) return meta
  return new MessagingError.InvalidMessage({
    provider,
    field: "body",
    reason: `rejected in a ${answer.status} answer: ${HttpTransport.describe(answer.body)}`,
    status: answer.status
  })
}

const headerParameter = (media: Message.TemplateMessage["headerMedia"] & {}): Api.Parameter => {
  switch (media.kind) {
    case "image":
      return { type: "image", image: { link: media.url } }
    case "video":
      return { type: "video", video: { link: media.url } }
    case "document":
      return {
        type: "document",
        document: media.filename === undefined ? { link: media.url } : { link: media.url, filename: media.filename }
      }
  }
}

/**
 * The Meta-style `params` of a template: a header component for `headerMedia`, a body component with
 * one text parameter per variable; an empty array for a template without either.
 *
 * @since 0.1.0
 * @category templates
 */
export const templateParams = (message: Message.TemplateMessage): Array<Api.Component> => [
  ...(message.headerMedia === undefined ? [] : [{
    type: "header" as const,
    parameters: [headerParameter(message.headerMedia)]
  }]),
  ...(message.variables.length === 0 ? [] : [{
    type: "body" as const,
    parameters: message.variables.map((text) => ({ type: "text" as const, text }))
  }])
]

/**
 * The driver-level service over an `HttpClient`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<MessagingService.Service, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const key = Redacted.value(options.apiKey)
    const client = (yield* HttpClient.HttpClient).pipe(
      HttpClient.mapRequest(flow(
        HttpClientRequest.prependUrl((options.baseUrl ?? defaultBaseUrl).replace(/\/+$/, "")),
        HttpClientRequest.setUrlParam("apiKey", key),
        HttpClientRequest.setHeaders({ apiKey: key, authType: "Key" }),
        HttpClientRequest.acceptJson
      ))
    )
    const transport = HttpTransport.make({
      provider,
      client,
      classify,
      timeout: options.timeout,
      secretQueryParams: ["apiKey"],
      secretHeaders: ["apikey"]
    })
    const userName = options.userName ?? ChatId.toE164
    const recipient = (to: ChatId.ChatId) => ({
      userName: typeof userName === "string" ? userName : userName(to),
      wa_id: ChatId.toDigits(to),
      ...(options.tags === undefined ? {} : { tags: options.tags })
    })

    const post = <A, I>(path: string, schema: Schema.Schema<A, I>, body: A, to: ChatId.ChatId) =>
      HttpClientRequest.post(path).pipe(
        HttpClientRequest.schemaBodyJson(schema)(body),
        Effect.orDie,
        Effect.flatMap((request) => transport.execute(request, Api.SendResponse, { chat: to.toString() })),
        Effect.flatMap(Option.match({
          onSome: Effect.succeed,
          onNone: () => Effect.sync(() => `${localIdPrefix}${randomUUID()}`)
        })),
        Effect.map((messageId) => ({ messageId, status: "accepted" as const }))
      )

    const sendMessage = (to: ChatId.ChatId, type: Api.MessageType, message: typeof Api.MessageBody.Type) =>
      post(Api.sendMessagePath, Api.SendMessageRequest, { ...recipient(to), type, message }, to)

    const send = (
      message: Message.Message
    ): Effect.Effect<MessagingService.ProviderReceipt, MessagingError.MessagingError> => {
      const { to } = message
      // The Cloud API addresses people by number: groups, channels and LIDs are another provider's job.
      if (to.kind !== "phone") {
        return Effect.fail(
          new MessagingError.Unsupported({ provider, feature: `${to.kind} chats (the Cloud API sends to numbers)` })
        )
      }
      const caption = (text: string | undefined) => text === undefined ? {} : { label: text }
      switch (message._tag) {
        case "Text":
          return sendMessage(to, "text", { text: message.text })
        case "Image":
          return sendMessage(to, "image", { source: message.url, ...caption(message.caption), type: "image" })
        case "Document":
          return sendMessage(to, "document", { source: message.url, ...caption(message.caption), type: "document" })
        case "Template":
          return post(
            Api.sendTemplatePath,
            Api.SendTemplateRequest,
            { ...recipient(to), templateId: message.name, params: templateParams(message) },
            to
          )
        case "Video":
        case "Audio":
        case "Location":
        case "Reaction":
          return Effect.fail(new MessagingError.Unsupported({ provider, feature: `${message._tag} messages` }))
      }
    }

    return yield* MessagingService.make({ provider, capabilities, send }, options)
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<MessagingService.MessagingService, never, HttpClient.HttpClient> =>
  Layer.scoped(MessagingService.MessagingService, make(options))

/**
 * The settings `layerConfig` reads by default: `PARLEY_BOTPENGUIN_API_KEY`, and optionally
 * `PARLEY_BOTPENGUIN_BASE_URL` (default {@link defaultBaseUrl}), `PARLEY_BOTPENGUIN_USER_NAME` (one
 * contact name for every send; default the recipient's number), `PARLEY_BOTPENGUIN_TAGS`
 * (comma-separated) and `PARLEY_BOTPENGUIN_RATE_LIMIT` / `PARLEY_BOTPENGUIN_RATE_LIMIT_BURST`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  baseUrl: Config.withDefault(Config.string("PARLEY_BOTPENGUIN_BASE_URL"), defaultBaseUrl),
  apiKey: Config.redacted("PARLEY_BOTPENGUIN_API_KEY"),
  userName: Config.map(Config.option(Config.nonEmptyString("PARLEY_BOTPENGUIN_USER_NAME")), Option.getOrUndefined),
  tags: Config.map(Config.option(Config.array(Config.string(), "PARLEY_BOTPENGUIN_TAGS")), Option.getOrUndefined),
  rateLimit: RateLimit.config("PARLEY_BOTPENGUIN")
})

/**
 * The layer, with options from `Config` (by default {@link config}).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<MessagingService.MessagingService, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.unwrapEffect(Effect.map(options, layer))
