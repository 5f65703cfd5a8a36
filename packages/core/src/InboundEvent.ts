/**
 * What providers' webhooks tell us, in one provider-neutral shape: a user wrote something, or a
 * message we sent changed status.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as ChatId from "./ChatId.js"

/**
 * Delivery statuses, in the order WhatsApp moves through them (`failed` can follow any).
 *
 * @since 0.1.0
 * @category models
 */
export const DeliveryStatus = Schema.Literals(["sent", "delivered", "read", "played", "failed"])

/**
 * @since 0.1.0
 * @category models
 */
export type DeliveryStatus = typeof DeliveryStatus.Type

/**
 * A text the user typed.
 *
 * @since 0.1.0
 * @category content
 */
export class TextContent extends Schema.TaggedClass<TextContent>()("Text", {
  text: Schema.String
}) {}

/**
 * An image, video, audio, document or sticker the user sent. `url` is where the provider serves it,
 * when it says.
 *
 * @since 0.1.0
 * @category content
 */
export class MediaContent extends Schema.TaggedClass<MediaContent>()("Media", {
  kind: Schema.Literals(["image", "video", "audio", "document", "sticker"]),
  url: Schema.optional(Schema.String),
  mimeType: Schema.optional(Schema.String),
  filename: Schema.optional(Schema.String),
  caption: Schema.optional(Schema.String)
}) {}

/**
 * A location pin.
 *
 * @since 0.1.0
 * @category content
 */
export class LocationContent extends Schema.TaggedClass<LocationContent>()("Location", {
  latitude: Schema.Number,
  longitude: Schema.Number,
  name: Schema.optional(Schema.String),
  address: Schema.optional(Schema.String)
}) {}

/**
 * A reaction to a message (empty `emoji`: the reaction was removed).
 *
 * @since 0.1.0
 * @category content
 */
export class ReactionContent extends Schema.TaggedClass<ReactionContent>()("Reaction", {
  messageId: Schema.String,
  emoji: Schema.String
}) {}

/**
 * A message whose content Parley could not read: the provider does not deliver it (the Multisession
 * gateway's webhooks carry none), or delivered a shape Parley does not understand. `reason` says which,
 * so a bot can answer that it could not read the message, or ignore it.
 *
 * @since 0.1.0
 * @category content
 */
export class UnavailableContent extends Schema.TaggedClass<UnavailableContent>()("Unavailable", {
  reason: Schema.String
}) {}

/**
 * Anything a user can send: what Parley understands, or {@link UnavailableContent} saying why not.
 *
 * @since 0.1.0
 * @category content
 */
export const Content = Schema.Union([TextContent, MediaContent, LocationContent, ReactionContent, UnavailableContent])

/**
 * @since 0.1.0
 * @category content
 */
export type Content = typeof Content.Type

/**
 * A user wrote to the business.
 *
 * Webhook decoders build events with `new MessageReceived(fields)` (and likewise `StatusChanged`):
 * the constructor checks the typed fields against the schema, which in Effect 4 reuses a compiled
 * parser (a few µs per event).
 *
 * @since 0.1.0
 * @category models
 */
export class MessageReceived extends Schema.TaggedClass<MessageReceived>()("MessageReceived", {
  /** The provider whose webhook delivered it. */
  provider: Schema.String,
  /** The provider's id of this delivery, the key for dropping duplicates. */
  eventId: Schema.String,
  /** The provider's id of the message (reply to it, react to it). */
  messageId: Schema.String,
  /** The conversation: the user's own chat, or the group it was written in. */
  chat: ChatId.FromString,
  /** Who wrote it (the same as `chat` outside groups). */
  sender: ChatId.FromString,
  senderName: Schema.optional(Schema.String),
  content: Content,
  /** The id of the message this one quotes, if any. */
  replyTo: Schema.optional(Schema.String),
  at: Schema.DateFromMillis
}) {}

/**
 * A message we sent moved to a new delivery status.
 *
 * @since 0.1.0
 * @category models
 */
export class StatusChanged extends Schema.TaggedClass<StatusChanged>()("StatusChanged", {
  provider: Schema.String,
  eventId: Schema.String,
  /** The `messageId` of our `Receipt`. */
  messageId: Schema.String,
  chat: Schema.optional(ChatId.FromString),
  status: DeliveryStatus,
  /** Why, when `status` is `failed`. */
  error: Schema.optional(Schema.String),
  at: Schema.DateFromMillis
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export const InboundEvent = Schema.Union([MessageReceived, StatusChanged])

/**
 * @since 0.1.0
 * @category models
 */
export type InboundEvent = typeof InboundEvent.Type

/**
 * The key under which duplicate deliveries of an event are dropped.
 *
 * @since 0.1.0
 * @category accessors
 */
export const dedupeKey = (event: InboundEvent): string => `${event.provider}:${event._tag}:${event.eventId}`
