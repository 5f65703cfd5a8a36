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
import { Capabilities, ChatId, type Message, type MessagingService, RateLimit } from "@parley/core"
import { ErrorTable, HttpTransport, MetaCloud, MetaError, Provider } from "@parley/core/provider"
import * as Config from "effect/Config"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { flow } from "effect/Function"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import * as Api from "./BotPenguinApi.js"

/**
 * The provider's name in receipts, errors and metrics.
 *
 * @since 0.1.0
 * @category constants
 */
export const provider = Api.provider

/**
 * BotPenguin's public API host; white labels have their own (`https://api.v7.express-chat.com`, …).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = Api.defaultBaseUrl

/**
 * The prefix of the receipt id when BotPenguin's answer carries no message id (its success body is
 * undocumented): `botpenguin-local-<uuid>`, made by the client, unknown to BotPenguin.
 *
 * @since 0.1.0
 * @category constants
 */
export const localIdPrefix = "botpenguin-local-"

/**
 * What BotPenguin carries: text, image, document and templates (the documented kinds), to phone numbers
 * (the Cloud API addresses people by number), without replies. It documents no webhooks, so no inbound
 * messages and no delivery statuses.
 *
 * @since 0.1.0
 * @category constants
 */
export const capabilities = Capabilities.make({ kinds: ["text", "image", "document", "template"], chats: ["phone"] })

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
  readonly timeout?: Duration.Input | undefined
}

/**
 * BotPenguin's error table: Meta's (`MetaError.table`), whose error objects it relays, deciding first
 * whatever the status (Meta answers 400 for rate limits, proxies 429); a 2xx is accepted unless it
 * carries an explicit `{ error: { code } }` (then an unknown code is `InvalidMessage`). Without a Meta
 * error object, the status decides (401/403: the key or the plan).
 *
 * @since 0.1.0
 * @category classification
 */
export const errorTable: ErrorTable.Table = { ...MetaError.table, successErrors: Schema.is(Api.ErrorResponse) }

const classify = ErrorTable.classifier(errorTable)

type Sendable = Message.Of<Capabilities.Kinds<typeof capabilities>>

const driver = (options: Options) => {
  // The query parameter keeps the key `Redacted` (sent unwrapped, redacted in inspection); headers take
  // a string.
  const headers = { apiKey: Redacted.value(options.apiKey), authType: "Key" }
  return Effect.map(
    HttpTransport.make({
      provider,
      baseUrl: options.baseUrl ?? defaultBaseUrl,
      authorize: flow(
        HttpClientRequest.setUrlParam("apiKey", options.apiKey),
        HttpClientRequest.setHeaders(headers)
      ),
      classify,
      timeout: options.timeout
    }),
    (transport) => {
      const userName = options.userName ?? ChatId.toE164
      const recipient = (to: ChatId.ChatId) => ({
        userName: typeof userName === "string" ? userName : userName(to),
        wa_id: ChatId.toDigits(to),
        ...(options.tags === undefined ? {} : { tags: options.tags })
      })
      const accepted = (messageId: string) => ({ messageId, status: "accepted" as const })
      // Without a message id in the answer, the receipt gets a local one.
      const call = <A, I>(
        endpoint: HttpTransport.Endpoint<A, I, Option.Option<string>, unknown>,
        body: A,
        to: ChatId.ChatId
      ) =>
        transport.call(endpoint, body, { chat: to.toString() }).pipe(
          Effect.flatMap(Option.match({
            onSome: (id) => Effect.succeed(accepted(id)),
            onNone: () => Effect.sync(() => accepted(`${localIdPrefix}${randomUUID()}`))
          }))
        )
      const caption = (text: string | undefined) => text === undefined ? {} : { label: text }
      const send = (message: Sendable) => {
        const { to } = message
        switch (message._tag) {
          case "Text":
            return call(Api.sendMessage, { ...recipient(to), type: "text", message: { text: message.text } }, to)
          case "Image":
          case "Document": {
            const type = message._tag === "Image" ? "image" : "document"
            const body = { source: message.url, ...caption(message.caption), type } as const
            return call(Api.sendMessage, { ...recipient(to), type, message: body }, to)
          }
          case "Template":
            return call(
              Api.sendTemplate,
              { ...recipient(to), templateId: message.name, params: MetaCloud.components(message) },
              to
            )
        }
      }
      return { provider, capabilities, send }
    }
  )
}

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
  baseUrl: Config.withDefault(Config.String("PARLEY_BOTPENGUIN_BASE_URL"), defaultBaseUrl),
  apiKey: Config.Redacted("PARLEY_BOTPENGUIN_API_KEY"),
  userName: Config.map(Config.option(Config.NonEmptyString("PARLEY_BOTPENGUIN_USER_NAME")), Option.getOrUndefined),
  tags: Config.map(Config.option(Config.Array(Schema.String, "PARLEY_BOTPENGUIN_TAGS")), Option.getOrUndefined),
  rateLimit: RateLimit.config("PARLEY_BOTPENGUIN")
})

/**
 * `make(options)`: the service over an `HttpClient`; `layer(options)`; `layerConfig(config?)`: the
 * layer with options from `Config` (by default {@link config}).
 *
 * @since 0.1.0
 * @category layers
 */
export const { layer, layerConfig, make } = Provider.define({ driver, config })
