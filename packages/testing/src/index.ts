/**
 * @parley/testing: a test harness for bots (`BotTest`), a fake WhatsApp network, fault injection and
 * emulator plumbing. The provider conformance suite, which needs Vitest, is imported from
 * `@parley/testing/ProviderConformance`.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as BotTest from "./BotTest.js"
/** @since 0.1.0 */
export * as Capture from "./Capture.js"
/** @since 0.1.0 */
export * as Emulator from "./Emulator.js"
/** @since 0.1.0 */
export * as FakeNetwork from "./FakeNetwork.js"
/** @since 0.1.0 */
export * as Faults from "./Faults.js"
/** @since 0.1.0 */
export * as MetaEmulation from "./MetaEmulation.js"
/** @since 0.1.0 */
export * as OpenAiEmulator from "./OpenAiEmulator.js"
/** @since 0.1.0 */
export * as Postgres from "./Postgres.js"
/** @since 0.1.0 */
export * as WebhookReceiver from "./WebhookReceiver.js"
/** @since 0.1.0 */
export * as WahaEmulation from "./WahaEmulation.js"
