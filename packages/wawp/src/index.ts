/**
 * @parley/wawp: Parley's provider for Wawp (api.wawp.net v2). The emulator is at
 * `@parley/wawp/emulator`.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Wawp from "./Wawp.js"
/** @since 0.1.0 */
export * as WawpApi from "./WawpApi.js"
/** @since 0.1.0 */
export * as WawpWebhook from "./WawpWebhook.js"
