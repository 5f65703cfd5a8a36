/**
 * @parley/core: provider-agnostic WhatsApp messaging for Effect, for bot authors. Provider packages are
 * built from `@parley/core/provider`.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Bot from "./Bot.js"
/** @since 0.1.0 */
export * as Capabilities from "./Capabilities.js"
/** @since 0.1.0 */
export * as ChatId from "./ChatId.js"
/** @since 0.1.0 */
export * as CircuitBreaker from "./CircuitBreaker.js"
/** @since 0.1.0 */
export * as Conversation from "./Conversation.js"
/** @since 0.1.0 */
export * as ConversationStore from "./ConversationStore.js"
/** @since 0.1.0 */
export * as Failover from "./Failover.js"
/** @since 0.1.0 */
export * as Idempotency from "./Idempotency.js"
/** @since 0.1.0 */
export * as Inbox from "./Inbox.js"
/** @since 0.1.0 */
export * as InboundEvent from "./InboundEvent.js"
/** @since 0.1.0 */
export * as Message from "./Message.js"
/** @since 0.1.0 */
export * as MessagingError from "./MessagingError.js"
/** @since 0.1.0 */
export * as MessagingService from "./MessagingService.js"
/** @since 0.1.0 */
export * as Metrics from "./Metrics.js"
/** @since 0.1.0 */
export * as Migrations from "./Migrations.js"
/** @since 0.1.0 */
export * as RateLimit from "./RateLimit.js"
/** @since 0.1.0 */
export * as Receipt from "./Receipt.js"
/** @since 0.1.0 */
export * as Retry from "./Retry.js"
/** @since 0.1.0 */
export * as Telemetry from "./Telemetry.js"
/** @since 0.1.0 */
export * as Webhook from "./Webhook.js"
/** @since 0.1.0 */
export * as WebhookServer from "./WebhookServer.js"
