/**
 * A simulated WhatsApp network shared by every emulator: users, the messages between them and
 * business numbers, and delivery statuses moving sent → delivered → read. Emulators record what they
 * accept here and turn its events into their own webhooks; tests and the simulator page look here to
 * see what a real phone would have received.
 *
 * @since 0.1.0
 */
import { ChatId, type InboundEvent } from "@parley/core"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"

/**
 * What a message carries, provider-neutral, for assertions.
 *
 * @since 0.1.0
 * @category models
 */
export type Content =
  | { readonly kind: "text"; readonly text: string }
  | {
    readonly kind: "image" | "video" | "audio" | "document" | "sticker"
    readonly url?: string | undefined
    readonly caption?: string | undefined
    readonly filename?: string | undefined
    readonly mimeType?: string | undefined
    readonly bytes?: number | undefined
  }
  | {
    readonly kind: "location"
    readonly latitude: number
    readonly longitude: number
    readonly name?: string | undefined
    readonly address?: string | undefined
  }
  | { readonly kind: "reaction"; readonly messageId: string; readonly emoji: string }
  | { readonly kind: "template"; readonly name: string; readonly variables: ReadonlyArray<string> }
  /** A question with options shown as buttons (or a list); a user answers by replying with an option. */
  | { readonly kind: "buttons"; readonly text: string; readonly options: ReadonlyArray<string> }

/**
 * @since 0.1.0
 * @category models
 */
export interface NetworkMessage {
  /** The id the carrying provider gave the message (also its id on the network). */
  readonly id: string
  /** The emulator that carried it (`user` for messages users write). */
  readonly provider: string
  readonly direction: "outbound" | "inbound"
  /** The business number. */
  readonly business: ChatId.ChatId
  /** The user (or group) on the other side. */
  readonly chat: ChatId.ChatId
  /** Who wrote an inbound message in a group (absent: the chat itself). */
  readonly author?: ChatId.ChatId | undefined
  readonly content: Content
  readonly replyTo?: string | undefined
  /** An inbound message the user forwarded (`frequently`: past five forwards, WhatsApp's double arrow). */
  readonly forwarded?: "once" | "frequently" | undefined
  readonly status: InboundEvent.DeliveryStatus
  readonly error?: string | undefined
  readonly at: number
}

/**
 * A message an emulator hands to the network for a user.
 *
 * @since 0.1.0
 * @category models
 */
export interface Outgoing {
  /** The id the carrying provider gave the message. */
  readonly id: string
  /** The emulator that carries it. */
  readonly provider: string
  readonly business: ChatId.ChatId
  readonly chat: ChatId.ChatId
  readonly content: Content
  readonly replyTo?: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export type NetworkEvent =
  | { readonly _tag: "Delivered"; readonly message: NetworkMessage }
  | { readonly _tag: "UserWrote"; readonly message: NetworkMessage; readonly via: string | undefined }
  | { readonly _tag: "StatusChanged"; readonly message: NetworkMessage }

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Move each outbound message on by itself: delivered after `delivered`, read after `read` more
   * (default: both 50 ms). `false` leaves statuses to {@link FakeNetwork.setStatus}.
   */
  readonly autoAck?:
    | { readonly delivered: Duration.Input; readonly read?: Duration.Input | undefined }
    | false
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** An emulator records a message it accepted for delivery. Fails for numbers not on WhatsApp. */
  readonly deliver: (message: Outgoing) => Effect.Effect<NetworkMessage, RecipientNotOnWhatsApp>
  /**
   * An emulator records a message it accepted but WhatsApp could not deliver (a number not on
   * WhatsApp, for providers that report it later rather than refuse the send): it is `failed`, with
   * `error`, at once.
   */
  readonly undeliverable: (message: Outgoing, error: string) => Effect.Effect<NetworkMessage>
  /**
   * A user writes to a business number. `via` names the one provider whose webhook should report it
   * (when a number is linked to several gateways); absent, every linked emulator reports it.
   */
  readonly userSends: (message: {
    /** The user's own chat, or the group written in (then say who wrote with `author`). */
    readonly from: ChatId.ChatId
    readonly author?: ChatId.ChatId | undefined
    readonly to: ChatId.ChatId
    readonly content: Content
    readonly replyTo?: string | undefined
    readonly forwarded?: "once" | "frequently" | undefined
    readonly via?: string | undefined
    readonly id?: string | undefined
  }) => Effect.Effect<NetworkMessage>
  /** Moves a message to a status (statuses only move forward; `failed` can follow any). */
  readonly setStatus: (id: string, status: InboundEvent.DeliveryStatus, error?: string) => Effect.Effect<void>
  readonly messages: Effect.Effect<ReadonlyArray<NetworkMessage>>
  readonly find: (id: string) => Effect.Effect<Option.Option<NetworkMessage>>
  /** Marks a number as not on WhatsApp: deliveries to it fail. */
  readonly unregister: (chat: ChatId.ChatId) => Effect.Effect<void>
  /** Events from now on, for the life of the scope (take them with `PubSub.take`). */
  readonly subscribe: Effect.Effect<PubSub.Subscription<NetworkEvent>, never, Scope.Scope>
}

/**
 * Raised by {@link Service.deliver} for a number not on WhatsApp.
 *
 * @since 0.1.0
 * @category errors
 */
export class RecipientNotOnWhatsApp extends Schema.TaggedError<RecipientNotOnWhatsApp>()("RecipientNotOnWhatsApp", {
  chat: ChatId.ChatId
}) {
  override get message(): string {
    return `${this.chat.toString()} is not on WhatsApp`
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class FakeNetwork extends Context.Service<FakeNetwork, Service>()("@parley/testing/FakeNetwork") {}

const order: Record<InboundEvent.DeliveryStatus, number> = { sent: 1, delivered: 2, read: 3, played: 4, failed: 5 }

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const messages = new Map<string, NetworkMessage>()
    const unreachable = new Set<string>()
    const events = yield* Effect.acquireRelease(PubSub.unbounded<NetworkEvent>(), PubSub.shutdown)
    const scope = yield* Effect.scope
    let counter = 0
    const autoAck = options.autoAck === false
      ? undefined
      : {
        delivered: Duration.fromInputUnsafe(options.autoAck?.delivered ?? "50 millis"),
        read: Duration.fromInputUnsafe(options.autoAck?.read ?? "50 millis")
      }

    const setStatus = (id: string, status: InboundEvent.DeliveryStatus, error?: string) =>
      Effect.suspend(() => {
        const current = messages.get(id)
        if (current === undefined || current.status === "failed" || order[status] <= order[current.status]) {
          return Effect.void
        }
        const message = { ...current, status, error }
        messages.set(id, message)
        return PubSub.publish(events, { _tag: "StatusChanged", message })
      })

    const service: Service = {
      deliver: Effect.fnUntraced(function*(input) {
        if (unreachable.has(input.chat.toString())) return yield* new RecipientNotOnWhatsApp({ chat: input.chat })
        const message: NetworkMessage = {
          ...input,
          direction: "outbound",
          status: "sent",
          at: yield* Clock.currentTimeMillis
        }
        messages.set(message.id, message)
        yield* PubSub.publish(events, { _tag: "Delivered", message })
        if (autoAck) {
          yield* Effect.sleep(autoAck.delivered).pipe(
            Effect.andThen(setStatus(message.id, "delivered")),
            Effect.andThen(Effect.sleep(autoAck.read)),
            Effect.andThen(setStatus(message.id, "read")),
            Effect.forkIn(scope)
          )
        }
        return message
      }),
      undeliverable: Effect.fnUntraced(function*(input, error) {
        const message: NetworkMessage = {
          ...input,
          direction: "outbound",
          status: "failed",
          error,
          at: yield* Clock.currentTimeMillis
        }
        messages.set(message.id, message)
        yield* PubSub.publish(events, { _tag: "StatusChanged", message })
        return message
      }),
      userSends: Effect.fnUntraced(function*(input) {
        const at = yield* Clock.currentTimeMillis
        const message: NetworkMessage = {
          id: input.id ?? `user_${at.toString(36)}_${(++counter).toString(36)}`,
          provider: "user",
          direction: "inbound",
          business: input.to,
          chat: input.from,
          author: input.author,
          content: input.content,
          replyTo: input.replyTo,
          ...(input.forwarded === undefined ? {} : { forwarded: input.forwarded }),
          status: "delivered",
          at
        }
        messages.set(message.id, message)
        yield* PubSub.publish(events, { _tag: "UserWrote", message, via: input.via })
        return message
      }),
      setStatus,
      messages: Effect.sync(() => [...messages.values()]),
      find: (id) => Effect.sync(() => Option.fromNullishOr(messages.get(id))),
      unregister: (chat) => Effect.sync(() => void unreachable.add(chat.toString())),
      subscribe: PubSub.subscribe(events)
    }
    return service
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<FakeNetwork> => Layer.effect(FakeNetwork, make(options))

/**
 * The business number emulators send as unless told otherwise.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBusiness: ChatId.ChatId = ChatId.phone("+15550000001")
