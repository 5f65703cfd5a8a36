/**
 * @parley/core/provider: what provider packages are built from. A provider is its Api module (the
 * wire format as `Schema`s, its `HttpTransport` endpoints and its `provider` name); its Messaging,
 * Webhook and Emulator modules each stand on that and on this kit.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as ErrorTable from "./ErrorTable.js"
/** @since 0.1.0 */
export * as HttpTransport from "./HttpTransport.js"
/** @since 0.1.0 */
export * as MetaCloud from "./MetaCloud.js"
/** @since 0.1.0 */
export * as MetaError from "./MetaError.js"
/** @since 0.1.0 */
export * as Provider from "./Provider.js"
/** @since 0.1.0 */
export * as ProviderWebhook from "./ProviderWebhook.js"
/** @since 0.1.0 */
export * as Waha from "./Waha.js"
/** @since 0.1.0 */
export * as WireSchema from "./WireSchema.js"
