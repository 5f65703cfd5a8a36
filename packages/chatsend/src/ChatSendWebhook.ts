/**
 * ChatSend's inbound side: its webhooks use WAHA's envelope (`message`, `message.reaction`,
 * `message.ack`), verified by HMAC when a secret is configured (header configurable, WAHA's
 * `X-Webhook-Hmac` with SHA-512 by default), otherwise by a secret token in the webhook path
 * (`/webhooks/chatsend/<token>`).
 *
 * @since 0.1.0
 */
import type { Webhook } from "@parley/core"
import { Waha } from "@parley/core/provider"
import type * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import { provider } from "./ChatSendApi.js"

/**
 * @since 0.1.0
 * @category models
 */
export type Options = Waha.WebhookOptions

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Webhook.WebhookHandler => Waha.webhookHandler(provider, options)

/**
 * `PARLEY_CHATSEND_WEBHOOK_SECRET`, `…_WEBHOOK_HEADER`, `…_WEBHOOK_ALGORITHM`, `…_WEBHOOK_TOKEN`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Waha.webhookConfig("PARLEY_CHATSEND")

/**
 * The handler, with options from `Config` (by default {@link config}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeConfig = (options: Config.Config<Options> = config) => Effect.map(options, make)
