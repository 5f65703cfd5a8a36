/**
 * Wawp's inbound side. Its webhooks use WAHA's envelope (`message`, `message.reaction`,
 * `message.ack`, …), often several events in one array, decoded by core's `Waha` module.
 *
 * Verification: Wawp's SDK checks a hex HMAC-SHA256 of the raw body, but the header it arrives in is
 * undocumented, so it is configurable (default `X-Webhook-Hmac`, WAHA's header). Without a secret, a
 * token in the webhook URL is checked instead: in the path (`/webhooks/wawp/<token>`) or, when
 * `queryParam` is set, in the query string (`/webhooks/wawp?token=<token>`), as Wawp's README suggests.
 *
 * @since 0.1.0
 */
import type { Webhook } from "@parley/core"
import { ProviderWebhook, Waha } from "@parley/core/provider"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { defaultWebhookHeader, provider } from "./WawpApi.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends Waha.WebhookOptions {
  /** With `token` and no `secret`: the query parameter carrying the token (else it is read from the path). */
  readonly queryParam?: string | undefined
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Webhook.WebhookHandler => {
  const waha = Waha.webhookHandler(provider, {
    ...options,
    header: options.header ?? defaultWebhookHeader,
    algorithm: options.algorithm ?? "sha256"
  })
  const verify = options.secret === undefined && options.token !== undefined && options.queryParam !== undefined
    ? ProviderWebhook.verifyToken(provider, { token: options.token, queryParam: options.queryParam })
    : waha.verify
  return {
    provider,
    verify,
    // One delivery may repeat an event: keep the first of each id.
    decode: (request) =>
      Effect.map(waha.decode(request), (events) => {
        const seen = new Set<string>()
        return events.filter((event) => !seen.has(event.eventId) && seen.add(event.eventId))
      })
  }
}

/**
 * `PARLEY_WAWP_WEBHOOK_SECRET`, `…_WEBHOOK_HEADER` (default `X-Webhook-Hmac`), `…_WEBHOOK_ALGORITHM`
 * (default `sha256`), `…_WEBHOOK_TOKEN` and `…_WEBHOOK_QUERY_PARAM`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all([
  Waha.webhookConfig("PARLEY_WAWP"),
  Config.option(Config.String("PARLEY_WAWP_WEBHOOK_QUERY_PARAM"))
]).pipe(Config.map(([options, queryParam]) => ({ ...options, queryParam: Option.getOrUndefined(queryParam) })))

/**
 * The handler, with options from `Config` (by default {@link config}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeConfig = (options: Config.Config<Options> = config) => Effect.map(options, make)
