/**
 * @parley/multisession: Parley's provider for the self-hosted go-whatsapp-multi-session-rest-api gateway
 * (`gdbrns/go-whatsapp-multi-session-rest-api`). The emulator is at `@parley/multisession/emulator`.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Multisession from "./Multisession.js"
/** @since 0.1.0 */
export * as MultisessionApi from "./MultisessionApi.js"
/** @since 0.1.0 */
export * as MultisessionWebhook from "./MultisessionWebhook.js"
