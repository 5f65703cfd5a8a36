/**
 * BotPenguin's inbound side, which does not exist: its API documents no webhooks (no payloads, no
 * signature), so BotPenguin is a send-only provider. The handler is here so that every provider has
 * the same shape; it refuses every request, so a mounted `/webhooks/botpenguin` is never open.
 *
 * @since 0.1.0
 */
import { Webhook } from "@parley/core"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import { provider } from "./BotPenguinApi.js"

/**
 * Nothing to configure: there is no documented payload or signature to verify.
 *
 * @since 0.1.0
 * @category models
 */
export type Options = Readonly<Record<string, never>>

/**
 * Why every request is refused.
 *
 * @since 0.1.0
 * @category constants
 */
export const reason =
  "BotPenguin documents no webhooks (no payload, no signature): it is a send-only provider, so this endpoint refuses every request"

/**
 * A handler that refuses every request: 401 from `verify`, 400 from `decode`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (_options: Options = {}): Webhook.WebhookHandler => ({
  provider,
  verify: () => Effect.fail(new Webhook.WebhookError({ provider, status: 401, reason })),
  decode: () => Effect.fail(new Webhook.WebhookError({ provider, status: 400, reason }))
})

/**
 * Reads no settings; here for symmetry with the other providers.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.succeed({})

/**
 * The handler, with options from `Config` (by default {@link config}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeConfig = (options: Config.Config<Options> = config) => Effect.map(options, make)
