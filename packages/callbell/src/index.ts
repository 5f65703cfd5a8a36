/**
 * @parley/callbell: Parley's provider for the Callbell API (api.callbell.eu/v1). The emulator is at
 * `@parley/callbell/emulator`.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Callbell from "./Callbell.js"
/** @since 0.1.0 */
export * as CallbellApi from "./CallbellApi.js"
/** @since 0.1.0 */
export * as CallbellWebhook from "./CallbellWebhook.js"
