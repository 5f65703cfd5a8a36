/**
 * What a successful send returns: which provider took the message, the id it gave it, and whether it
 * was merely accepted (queued) or already sent.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category models
 */
export const ReceiptStatus = Schema.Literals(["accepted", "sent"])

/**
 * @since 0.1.0
 * @category models
 */
export class Receipt extends Schema.Class<Receipt>("@parley/core/Receipt")({
  /** The provider that carried the message. */
  provider: Schema.String,
  /** The provider's id for the message: the key of later `StatusChanged` events and of replies. */
  messageId: Schema.String,
  status: ReceiptStatus,
  /** When the provider answered. */
  at: Schema.DateFromMillis
}) {}
