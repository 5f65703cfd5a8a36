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

/** What handling needs: the bot, its routes by name, its services, and how to send. @internal */
export interface Options<R> {
  readonly bot: Bot.Bot<R>
  readonly messaging: MessagingService.Service
  readonly store: Store.Service
  readonly context: Context.Context<R>
  /** The customer-service window, in millis. */
  readonly window: number
  /** The engine's clock (read directly: a `Clock.currentTimeMillis` is two effects each time). */
  readonly clock: Clock.Clock
}

/** Handles each event by its kind: a message, a delivery status, a timer. @internal */
export const make = <R>(options: Options<R>): Handle => {
  const handling = new Handling(options)
  return (session, entry) => {
    const event = entry.event
    switch (event._tag) {
      case "MessageReceived":
        return onMessage(handling, session, entry, event)
      case "StatusChanged":
        return onStatus(handling, session, event)
      case "TimerFired":
        return onTimer(handling, session, entry, event)
    }
  }
}

/** The bot as the engine handles its events. */
class Handling<R> {
  readonly routes: Map<string, Bot.Handler<R>>
  readonly cancelWords: Set<string>
  readonly outbound: Outbound.Outbound

  constructor(readonly options: Options<R>) {
    const { bot } = options
    this.routes = new Map(bot.routes.map((route) => [route.name, route.handler]))
    if (bot.fallback) this.routes.set(FALLBACK, bot.fallback)
    this.cancelWords = new Set((bot.cancel ?? []).map((w) => w.toLowerCase()))
    this.outbound = Outbound.make(options)
  }

  /** Whether this instance still holds the session's chat. */
  held(session: Session): boolean {
    return session.heldAt(this.options.clock.currentTimeMillisUnsafe())
  }

  /** A send outside a dialog: none where this instance no longer holds the chat. */
  send(
    session: Session,
    message: Message.Message,
    key: string
  ): Effect.Effect<Receipt, MessagingError.MessagingError | LeaseLost> {
    return this.held(session)
      ? this.outbound.send(session, message, key)
      : Effect.fail(new LeaseLost({ chat: session.chat }))
  }
}

// A message: the open dialog's answer (or a cancel word ends it), else the first route that matches starts
// its dialog (or the fallback).
const onMessage = <R>(
  handling: Handling<R>,
  session: Session,
  entry: Store.Entry,
  event: InboundEvent.MessageReceived
) =>
  Effect.gen(function*() {
    const { bot, clock } = handling.options
    session.touchInbound(event.provider, event.at.getTime())
    const open = session.dialog
    if (Option.isSome(open)) {
      const dialog = open.value
      // The message that started the dialog, handled again (a retry, or a restart before its commit).
      if (dialog.trigger === entry.id) return yield* runDialog(handling, session, event.chat, dialog, undefined)
      if (handling.cancelWords.has(words(event)) && !dialog.journal.some((e) => e.by === entry.id)) {
        for (const step of dialog.journal) if (step.timer !== undefined) session.cancelTimer(step.timer)
        session.setDialog(Option.none())
        if (bot.cancelReply) {
          yield* handling.send(session, Message.text(event.chat, bot.cancelReply), `cancel:${entry.id}`).pipe(
            Effect.catchIf(
              (error) => error._tag !== "LeaseLost",
              (error) => Effect.logWarning(`cancel reply to ${session.chat} failed`, error)
            )
          )
        }
        return
      }
      return yield* runDialog(handling, session, event.chat, dialog, { inboxId: entry.id, event })
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
    return yield* runDialog(handling, session, event.chat, dialog, undefined)
  })

// A delivery status: the sent message moves on (never back), and `onStatus` hears of it.
const onStatus = <R>(handling: Handling<R>, session: Session, event: InboundEvent.StatusChanged) =>
  Effect.gen(function*() {
    const { bot, context, store } = handling.options
    const stored = yield* store.sentMessage(event.messageId)
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

// A timer: a reminder goes out; a dialog's timer wakes it (if it is still the chat's open dialog).
const onTimer = <R>(handling: Handling<R>, session: Session, entry: Store.Entry, event: Events.TimerFired) => {
  const payload = event.payload
  if (payload._tag === "Reminder") {
    return handling.send(session, payload.message, `timer:${event.timerId}`).pipe(
      Effect.catchIf(
        (error) => error._tag !== "LeaseLost",
        (error) => Effect.logWarning(`reminder to ${session.chat} not sent: ${error.message}`)
      ),
      Effect.asVoid
    )
  }
  const open = session.dialog
  if (Option.isNone(open) || open.value.id !== payload.dialogId) return Effect.void
  return runDialog(handling, session, open.value.event.chat, open.value, { inboxId: entry.id, event })
}

// Runs the dialog over its journal, and keeps in the session what its run left: the journal of a dialog that
// waits or failed (a retry repeats none of its sends), none for one that ended.
const runDialog = <R>(
  handling: Handling<R>,
  session: Session,
  chat: ChatId.ChatId,
  dialog: rows.Dialog,
  input: Replay.Input | undefined
): Effect.Effect<void, HandlerFailed | LeaseLost> =>
  Effect.gen(function*() {
    const handler = handling.routes.get(dialog.route)
    if (handler === undefined) {
      yield* Effect.logWarning(`ending the open dialog of ${session.chat}: its route ${dialog.route} no longer exists`)
      return session.setDialog(Option.none())
    }
    const result = yield* Dialog.run(handler, dialog, input, {
      chat,
      held: () => handling.held(session),
      send: (message, key) => handling.outbound.send(session, message, key),
      data: session.data,
      dataChanged: () => session.dataChanged(),
      setTimer: (key, fireAt, payload) => session.setTimer(key, fireAt, payload),
      cancelTimer: (timer) => session.cancelTimer(timer)
    }, handling.options.context)
    switch (result._tag) {
      case "Returned":
        return session.setDialog(Option.none())
      case "Suspended":
        return session.setDialog(Option.some({ ...dialog, journal: result.journal }))
      case "Ended":
        yield* Effect.logInfo(`dialog ${dialog.route} in ${session.chat} ended: ${result.reason}`)
        return session.setDialog(Option.none())
      case "Failed":
        session.setDialog(Option.some({ ...dialog, journal: result.journal }))
        return yield* Effect.fail(failed(result.cause))
      case "LeaseLost":
        return yield* new LeaseLost({ chat: session.chat })
    }
  })
