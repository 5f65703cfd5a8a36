/**
 * The chat an event is ordered under, as a key: the chat's id, or, for a delivery status whose chat the
 * provider did not say, a key of its own per message. Such an event is detached: it belongs to no chat's
 * row and takes no place in a chat's order (it is handled alone, with nothing read or written for a chat).
 *
 * @internal
 */
import type * as Inbox from "../../Inbox.js"

const detachedPrefix = "message:"

/** The key of the chat `event` is ordered under. @internal */
export const of = (event: Inbox.Event): string => {
  switch (event._tag) {
    case "MessageReceived":
      return event.chat.toString()
    case "StatusChanged":
      return event.chat ? event.chat.toString() : `${detachedPrefix}${event.messageId}`
    case "TimerFired":
      return event.chat
  }
}

/** Whether events under `key` belong to no chat's row (see the module documentation). @internal */
export const isDetached = (key: string): boolean => key.startsWith(detachedPrefix)
