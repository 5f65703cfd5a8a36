/**
 * @parley/meta: Parley's provider for Meta's WhatsApp Cloud API. The emulator is at
 * `@parley/meta/emulator`.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Meta from "./Meta.js"
/** @since 0.1.0 */
export * as MetaApi from "./MetaApi.js"
/** @since 0.1.0 */
export * as MetaWebhook from "./MetaWebhook.js"
