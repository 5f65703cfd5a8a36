/**
 * Handling one event in its chat's session: a message goes to the open dialog (as its answer, or a
 * cancel word ends it) or starts the dialog of the first route that matches; a delivery status moves
 * the sent message on and reaches `onStatus`; a timer wakes its dialog or sends its reminder. A dialog
 * runs over its journal (`dialog.ts`, on the replay runtime of `replay.ts`); sends go out through
 * `outbound.ts`.
 *
 * Nothing here writes to the database: the session collects the changes and the worker commits them
 * with the event. How handling ended is the effect's outcome: done, the handler failed (`HandlerFailed`,
 * retried by the worker, then dead-lettered), or this instance no longer holds the chat (`LeaseLost`: the
 * handler was stopped before sending anything more, and the new holder handles the event).
 *
 * @internal
 */
import type * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { SqlError } from "effect/sql/SqlError"
import type * as Bot from "../../Bot.js"
import type * as ChatId from "../../ChatId.js"
import * as Conversation from "../../Conversation.js"
import type * as InboundEvent from "../../InboundEvent.js"
import * as Message from "../../Message.js"
import type * as MessagingError from "../../MessagingError.js"
import type * as MessagingService from "../../MessagingService.js"
import type { Receipt } from "../../Receipt.js"
import { LeaseLost } from "./coordination.js"
import * as Dialog from "./dialog.js"
import type * as Events from "./events.js"
import * as Outbound from "./outbound.js"
import type * as Replay from "./replay.js"
import type * as rows from "./rows.js"
import type { Session } from "./session.js"
import type * as Store from "./store.js"

/** The handler failed (after its sends, which its journal keeps). @internal */
export interface HandlerFailed {
  readonly _tag: "HandlerFailed"
  readonly cause: Cause.Cause<unknown>
}

/** Handles `entry` in `session`; its changes stay in the session for the worker to commit. @internal */
export type Handle = (session: Session, entry: Store.Entry) => Effect.Effect<void, HandlerFailed | LeaseLost | SqlError>

/** The route name of a bot's fallback handler. @internal */
export const FALLBACK = "fallback"

const failed = (cause: Cause.Cause<unknown>): HandlerFailed => ({ _tag: "HandlerFailed", cause })

/** The text of a message, as cancel words and keywords match it. @internal */
export const words = (event: InboundEvent.MessageReceived) => (Conversation.textOf(event) ?? "").trim().toLowerCase()

const statusRank: Record<string, number> = { accepted: 0, sent: 1, delivered: 2, read: 3, played: 4, failed: 5 }

/** @internal */
export const make = <R>(options: {
  readonly bot: Bot.Bot<R>
  readonly messaging: MessagingService.Service
  readonly store: Store.Service
  readonly context: Context.Context<R>
  /** The customer-service window, in millis. */
  readonly window: number
  /** The engine's clock (read directly: a `Clock.currentTimeMillis` is two effects each time). */
  readonly clock: Clock.Clock
}): Handle => {
  const { bot, clock, context } = options
  const routes = new Map<string, Bot.Handler<R>>(bot.routes.map((route) => [route.name, route.handler]))
  if (bot.fallback) routes.set(FALLBACK, bot.fallback)
  const cancelWords = new Set((bot.cancel ?? []).map((w) => w.toLowerCase()))
  const outbound = Outbound.make(options)

  const held = (session: Session) => session.heldAt(clock.currentTimeMillisUnsafe())
  // A send outside a dialog: none where this instance no longer holds the chat.
  const send = (
    session: Session,
    message: Message.Message,
    key: string
  ): Effect.Effect<Receipt, MessagingError.MessagingError | LeaseLost> =>
    held(session) ? outbound.send(session, message, key) : Effect.fail(new LeaseLost({ chat: session.chat }))

  const runDialog = (
    session: Session,
    chat: ChatId.ChatId,
    dialog: rows.Dialog,
    input: Replay.Input | undefined
  ): Effect.Effect<void, HandlerFailed | LeaseLost> =>
    Effect.gen(function*() {
      const handler = routes.get(dialog.route)
      if (handler === undefined) {
        yield* Effect.logWarning(
          `ending the open dialog of ${session.chat}: its route ${dialog.route} no longer exists`
        )
        return session.setDialog(Option.none())
      }
      const result = yield* Dialog.run(handler, dialog, input, {
        chat,
        held: () => held(session),
        send: (message, key) => outbound.send(session, message, key),
        data: session.data,
        dataChanged: () => session.dataChanged(),
        setTimer: (key, fireAt, payload) => session.setTimer(key, fireAt, payload),
        cancelTimer: (timer) => session.cancelTimer(timer)
      }, context)
      switch (result._tag) {
        case "Returned":
          return session.setDialog(Option.none())
        case "Suspended":
          return session.setDialog(Option.some({ ...dialog, journal: result.journal }))
        case "Ended":
          yield* Effect.logInfo(`dialog ${dialog.route} in ${session.chat} ended: ${result.reason}`)
          return session.setDialog(Option.none())
        case "Failed":
          // Its journal as far as it got: a retry repeats none of its sends.
          session.setDialog(Option.some({ ...dialog, journal: result.journal }))
          return yield* Effect.fail(failed(result.cause))
        case "LeaseLost":
          return yield* new LeaseLost({ chat: session.chat })
      }
    })

  const onMessage = (session: Session, entry: Store.Entry, event: InboundEvent.MessageReceived) =>
    Effect.gen(function*() {
      session.touchInbound(event.provider, event.at.getTime())
      const open = session.dialog
      if (Option.isSome(open)) {
        const dialog = open.value
        // The message that started the dialog, handled again (a retry, or a restart before its commit).
        if (dialog.trigger === entry.id) return yield* runDialog(session, event.chat, dialog, undefined)
        if (cancelWords.has(words(event)) && !dialog.journal.some((e) => e.by === entry.id)) {
          for (const step of dialog.journal) if (step.timer !== undefined) session.cancelTimer(step.timer)
          session.setDialog(Option.none())
          if (bot.cancelReply) {
            yield* send(session, Message.text(event.chat, bot.cancelReply), `cancel:${entry.id}`).pipe(
              Effect.catchIf(
                (error) => error._tag !== "LeaseLost",
                (error) => Effect.logWarning(`cancel reply to ${session.chat} failed`, error)
              )
            )
          }
          return
        }
        return yield* runDialog(session, event.chat, dialog, { inboxId: entry.id, event })
      }
      const route = bot.routes.find((r) => r.matches(event))
      const name = route?.name ?? (bot.fallback ? FALLBACK : undefined)
      if (name === undefined) return yield* Effect.logInfo(`no route for a message in ${session.chat}`)
      const dialog: rows.Dialog = {
        id: `d${entry.id}`,
        route: name,
        trigger: entry.id,
        event,
        journal: [],
        startedAt: clock.currentTimeMillisUnsafe()
      }
      session.setDialog(Option.some(dialog))
      return yield* runDialog(session, event.chat, dialog, undefined)
    })

  const onStatus = (session: Session, event: InboundEvent.StatusChanged) =>
    Effect.gen(function*() {
      const stored = yield* options.store.sentMessage(event.messageId)
      const moved = Option.isSome(stored) && (statusRank[event.status] ?? 0) > (statusRank[stored.value.status] ?? 0)
      if (moved) session.setStatus({ messageId: event.messageId, status: event.status, error: event.error ?? null })
      const message = moved
        ? Option.map(stored, (m) => ({ ...m, status: event.status, error: event.error }))
        : stored
      if (bot.onStatus) {
        yield* Effect.provideContext(bot.onStatus(event, message), context).pipe(
          Effect.catchCause((cause) => Effect.fail(failed(cause)))
        )
      }
    })

  const onTimer = (session: Session, entry: Store.Entry, event: Events.TimerFired) => {
    const payload = event.payload
    if (payload._tag === "Reminder") {
      return send(session, payload.message, `timer:${event.timerId}`).pipe(
        Effect.catchIf(
          (error) => error._tag !== "LeaseLost",
          (error) => Effect.logWarning(`reminder to ${session.chat} not sent: ${error.message}`)
        ),
        Effect.asVoid
      )
    }
    const open = session.dialog
    if (Option.isNone(open) || open.value.id !== payload.dialogId) return Effect.void
    return runDialog(session, open.value.event.chat, open.value, { inboxId: entry.id, event })
  }

  return (session, entry) => {
    const event = entry.event
    switch (event._tag) {
      case "MessageReceived":
        return onMessage(session, entry, event)
      case "StatusChanged":
        return onStatus(session, event)
      case "TimerFired":
        return onTimer(session, entry, event)
    }
  }
}
