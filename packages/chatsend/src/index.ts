/**
 * @parley/chatsend: Parley's provider for the ChatSend / Wasend WhatsApp API. The emulator is at
 * `@parley/chatsend/emulator`.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as ChatSend from "./ChatSend.js"
/** @since 0.1.0 */
export * as ChatSendApi from "./ChatSendApi.js"
/** @since 0.1.0 */
export * as ChatSendWebhook from "./ChatSendWebhook.js"
