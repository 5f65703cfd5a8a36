/**
 * What the engine processes: inbound events, and the durable timers that came due (public in `Inbox`),
 * and how the inbox stores them (JSON).
 *
 * @internal
 */
import * as Schema from "effect/Schema"
import * as Conversation from "../../Conversation.js"
import * as InboundEvent from "../../InboundEvent.js"

/** A durable timer came due; it is handled in its chat's order like any inbound event. @internal */
export class TimerFired extends Schema.TaggedClass<TimerFired>()("TimerFired", {
  timerId: Schema.Number,
  chat: Schema.String,
  payload: Conversation.TimerPayload,
  at: Schema.DateFromMillis
}) {}

/** Anything the engine processes. @internal */
export const Event = Schema.Union([InboundEvent.MessageReceived, InboundEvent.StatusChanged, TimerFired])

/** @internal */
export type Event = typeof Event.Type

const EventJson = Schema.fromJsonString(Event)

/** @internal */
export const encodeEvent = Schema.encodeSync(EventJson)

/** @internal */
export const decodeEvent = Schema.decodeSync(EventJson)

/** @internal */
export const decodeTimerPayload = Schema.decodeUnknownSync(Schema.fromJsonString(Conversation.TimerPayload))

/** @internal */
export const encodeTimerPayload = Schema.encodeSync(Schema.fromJsonString(Conversation.TimerPayload))
