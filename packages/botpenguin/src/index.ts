/**
 * @parley/botpenguin: Parley's provider for the BotPenguin WhatsApp Cloud API and its white labels. The
 * emulator is at `@parley/botpenguin/emulator`.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as BotPenguin from "./BotPenguin.js"
/** @since 0.1.0 */
export * as BotPenguinApi from "./BotPenguinApi.js"
/** @since 0.1.0 */
export * as BotPenguinWebhook from "./BotPenguinWebhook.js"
