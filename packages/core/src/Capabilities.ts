/**
 * What a provider can do: which message kinds it sends, whether it honours replies and idempotency
 * keys, and what its webhooks report. Sending what a provider cannot is `Unsupported`, with no I/O.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import type { DeliveryStatus } from "./InboundEvent.js"
import * as Message from "./Message.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Capabilities {
  /** The message kinds the provider sends. */
  readonly kinds: ReadonlySet<Message.Kind>
  /** The kinds that can quote an earlier message (`replyTo`); others with `replyTo` are `Unsupported`. */
  readonly replies: ReadonlySet<Message.Kind>
  /** Whether the provider's webhooks report inbound user messages. */
  readonly inboundMessages: boolean
  /** The delivery statuses the provider's webhooks report. */
  readonly statuses: ReadonlySet<DeliveryStatus>
  /** Whether the provider's API accepts an idempotency key, making a resend after `DeliveryUnknown` safe. */
  readonly idempotencyKeys: boolean
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly kinds: Iterable<Message.Kind>
  readonly replies?: Iterable<Message.Kind>
  readonly inboundMessages?: boolean
  readonly statuses?: Iterable<DeliveryStatus>
  readonly idempotencyKeys?: boolean
}): Capabilities => ({
  kinds: new Set(options.kinds),
  replies: new Set(options.replies ?? []),
  inboundMessages: options.inboundMessages ?? false,
  statuses: new Set(options.statuses ?? []),
  idempotencyKeys: options.idempotencyKeys ?? false
})

/**
 * What a provider lacks to carry this message (`template`, `replies`), if anything.
 *
 * @since 0.1.0
 * @category predicates
 */
export const missing = (capabilities: Capabilities, message: Message.Message): Option.Option<string> => {
  const kind = Message.kind(message)
  if (!capabilities.kinds.has(kind)) return Option.some(`${kind} messages`)
  if (Message.replyTo(message) !== undefined && !capabilities.replies.has(kind)) {
    return Option.some(`${kind} replies (replyTo)`)
  }
  return Option.none()
}

/**
 * Whether a provider can carry this message.
 *
 * @since 0.1.0
 * @category predicates
 */
export const supports = (capabilities: Capabilities, message: Message.Message): boolean =>
  Option.isNone(missing(capabilities, message))

/**
 * The union of several providers' capabilities (what a failover group can carry).
 *
 * @since 0.1.0
 * @category combinators
 */
export const union = (all: ReadonlyArray<Capabilities>): Capabilities => ({
  kinds: new Set(all.flatMap((c) => [...c.kinds])),
  replies: new Set(all.flatMap((c) => [...c.replies])),
  inboundMessages: all.some((c) => c.inboundMessages),
  statuses: new Set(all.flatMap((c) => [...c.statuses])),
  idempotencyKeys: all.every((c) => c.idempotencyKeys)
})
