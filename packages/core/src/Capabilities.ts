/**
 * What a provider can do: which message kinds it sends, to which chats, whether it honours replies and
 * idempotency keys, and what its webhooks report. Sending what a provider cannot is `Unsupported`, with
 * no I/O. A choice (`buttons`) goes out as numbered text through a provider without interactive
 * messages, so it needs only `text` there.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import type * as ChatId from "./ChatId.js"
import type { DeliveryStatus } from "./InboundEvent.js"
import * as Message from "./Message.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Capabilities<K extends Message.Kind = Message.Kind> {
  /** The message kinds the provider sends natively. */
  readonly kinds: ReadonlySet<K>
  /** The kinds that can quote an earlier message (`replyTo`); others with `replyTo` are `Unsupported`. */
  readonly replies: ReadonlySet<Message.Kind>
  /** The chats the provider can address (phone numbers, groups, channels, linked identities). */
  readonly chats: ReadonlySet<ChatId.Kind>
  /** Whether the provider's webhooks report inbound user messages. */
  readonly inboundMessages: boolean
  /** The delivery statuses the provider's webhooks report. */
  readonly statuses: ReadonlySet<DeliveryStatus>
  /** Whether the provider's API accepts an idempotency key, making a resend after `DeliveryUnknown` safe. */
  readonly idempotencyKeys: boolean
}

/**
 * The message kinds a provider's capabilities declare (`Kinds<typeof capabilities>`), for the type of
 * what its driver is sent: `Message.Of<Kinds<typeof capabilities>>`.
 *
 * @since 0.1.0
 * @category models
 */
export type Kinds<C> = C extends Capabilities<infer K> ? K : never

const allChats: ReadonlyArray<ChatId.Kind> = ["phone", "group", "newsletter", "lid"]

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = <const K extends Message.Kind>(options: {
  readonly kinds: Iterable<K>
  readonly replies?: Iterable<Message.Kind>
  /** Default: every kind of chat. */
  readonly chats?: Iterable<ChatId.Kind>
  readonly inboundMessages?: boolean
  readonly statuses?: Iterable<DeliveryStatus>
  readonly idempotencyKeys?: boolean
}): Capabilities<K> => ({
  kinds: new Set(options.kinds),
  replies: new Set(options.replies ?? []),
  chats: new Set(options.chats ?? allChats),
  inboundMessages: options.inboundMessages ?? false,
  statuses: new Set(options.statuses ?? []),
  idempotencyKeys: options.idempotencyKeys ?? false
})

/**
 * The message as this provider carries it: a choice becomes its numbered text where the provider has
 * no `buttons`; anything else is itself.
 *
 * @since 0.1.0
 * @category rendering
 */
export const adapt = (capabilities: Capabilities, message: Message.Message): Message.Message =>
  message._tag === "Buttons" && !capabilities.kinds.has("buttons") ? Message.asText(message) : message

/**
 * What a provider lacks to carry this message (`template messages`, `text replies (replyTo)`, `group
 * chats`), if anything.
 *
 * @since 0.1.0
 * @category predicates
 */
export const missing = (capabilities: Capabilities, message: Message.Message): Option.Option<string> => {
  const carried = adapt(capabilities, message)
  const kind = Message.kind(carried)
  if (!capabilities.kinds.has(kind)) return Option.some(`${kind} messages`)
  if (!capabilities.chats.has(carried.to.kind)) return Option.some(`${carried.to.kind} chats`)
  if (Message.replyTo(carried) !== undefined && !capabilities.replies.has(kind)) {
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
  chats: new Set(all.flatMap((c) => [...c.chats])),
  inboundMessages: all.some((c) => c.inboundMessages),
  statuses: new Set(all.flatMap((c) => [...c.statuses])),
  idempotencyKeys: all.every((c) => c.idempotencyKeys)
})
