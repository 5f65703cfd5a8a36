/**
 * Handling one event in its chat's session: a message goes to the open dialog (as its answer, or a
 * cancel word ends it) or starts the dialog of the first route that matches; a delivery status moves
 * the sent message on and reaches `onStatus`; a timer wakes its dialog or sends its reminder. Sends go
 * through the chat's provider, inside the 24 h window or as the bot's template.
 *
 * Nothing here writes to the database: the session collects the changes and the worker commits them
 * with the event.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type { SqlError } from "effect/sql/SqlError"
import type * as Bot from "../../Bot.js"
import type * as ChatId from "../../ChatId.js"
import * as Conversation from "../../Conversation.js"
import type * as InboundEvent from "../../InboundEvent.js"
import * as Message from "../../Message.js"
import * as MessagingError from "../../MessagingError.js"
import type * as MessagingService from "../../MessagingService.js"
import type { Receipt } from "../../Receipt.js"
import * as Journal from "./journal.js"
import type * as rows from "./rows.js"
import type { Session } from "./session.js"
import * as Store from "./store.js"

/** The handler failed (after its sends, which its journal keeps). @internal */
export interface HandlerFailed {
  readonly _tag: "HandlerFailed"
  readonly cause: Cause.Cause<unknown>
}

/** @internal */
export interface Handling<R> {
  readonly bot: Bot.Bot<R>
  readonly routes: ReadonlyMap<string, Bot.Handler<R>>
  readonly messaging: MessagingService.Service
  readonly store: Store.EngineStore
  readonly context: Context.Context<R>
  /** The customer-service window, in millis. */
  readonly window: number
  /** The engine's clock (read directly: a `Clock.currentTimeMillis` is two effects each time). */
  readonly clock: Clock.Clock
}

/** The route name of a bot's fallback handler. @internal */
export const FALLBACK = "fallback"

const failed = (cause: Cause.Cause<unknown>): HandlerFailed => ({ _tag: "HandlerFailed", cause })

/** The text of a message, as cancel words and keywords match it. @internal */
export const words = (event: InboundEvent.MessageReceived) => (Conversation.textOf(event) ?? "").trim().toLowerCase()

const statusRank: Record<string, number> = { accepted: 0, sent: 1, delivered: 2, read: 3, played: 4, failed: 5 }

/** @internal */
export const make = <R>(handling: Handling<R>) => {
  const { bot, messaging, routes } = handling
  const cancelWords = new Set((bot.cancel ?? []).map((w) => w.toLowerCase()))

  // Sends through the chat's provider, inside the 24 h window or as its template; records the message.
  const send = (
    session: Session,
    message: Message.Message,
    key: string
  ): Effect.Effect<Receipt, MessagingError.MessagingError> =>
    Effect.gen(function*() {
      const now = handling.clock.currentTimeMillisUnsafe()
      // An instance whose hold on the chat lapsed (paused past it) sends nothing more for it.
      if (now >= session.leaseUntil) return yield* Effect.die(new Store.LeaseLost({ chat: session.chat }))
      const last = session.lastInboundAt
      let outgoing = message
      if (message._tag !== "Template" && (last === undefined || now - last > handling.window)) {
        const template = bot.templateFallback?.(message)
        if (template === undefined) {
          return yield* new MessagingError.WindowClosed({
            provider: session.provider ?? messaging.provider,
            chat: session.chat,
            reason: last === undefined ? "the user has never written" : "the user last wrote over 24 h ago"
          })
        }
        outgoing = template
      }
      // The journal makes this send once; the key goes to the service only for providers that honour it
      // natively (a repeat after a crash between this send and the commit is then theirs to drop).
      const receipt = yield* messaging.send(outgoing, {
        idempotencyKey: messaging.capabilities.idempotencyKeys ? key : undefined,
        preferProvider: session.provider
      })
      session.recordSent(receipt)
      return receipt
    })

  const runDialog = (
    session: Session,
    chat: ChatId.ChatId,
    dialog: rows.Dialog,
    input: Option.Option<{ readonly inboxId: number; readonly event: Store.Entry["event"] }>
  ): Effect.Effect<void, HandlerFailed> =>
    Effect.gen(function*() {
      const handler = routes.get(dialog.route)
      if (handler === undefined) {
        yield* Effect.logWarning(
          `ending the open dialog of ${session.chat}: its route ${dialog.route} no longer exists`
        )
        return session.setDialog(Option.none())
      }
      const outcome = yield* Journal.run(handler, dialog, {
        chat,
        input,
        data: session.data,
        dataChanged: () => session.dataChanged(),
        send: (message, key) => send(session, message, key),
        setTimer: (key, fireAt, payload) => session.setTimer(key, fireAt, payload),
        cancelTimer: (timer) => session.cancelTimer(timer)
      }, handling.context).pipe(
        Effect.catch((failure) => {
          session.setDialog(Option.some(failure.dialog))
          return Effect.fail(failed(failure.cause))
        })
      )
      if (outcome._tag === "Waiting") return session.setDialog(Option.some(outcome.dialog))
      if (Option.isSome(outcome.reason)) {
        yield* Effect.logInfo(`dialog ${dialog.route} in ${session.chat} ended: ${outcome.reason.value}`)
      }
      session.setDialog(Option.none())
    })

  const onMessage = (session: Session, entry: Store.Entry, event: InboundEvent.MessageReceived) =>
    Effect.gen(function*() {
      session.touchInbound(event.provider, event.at.getTime())
      const open = session.dialog
      if (Option.isSome(open)) {
        const dialog = open.value
        // The message that started the dialog, handled again (a retry, or a restart before its commit).
        if (dialog.trigger === entry.id) return yield* runDialog(session, event.chat, dialog, Option.none())
        if (cancelWords.has(words(event)) && !dialog.journal.some((e) => e.by === entry.id)) {
          for (const step of dialog.journal) if (step.timer !== undefined) session.cancelTimer(step.timer)
          session.setDialog(Option.none())
          if (bot.cancelReply) {
            yield* send(session, Message.text(event.chat, bot.cancelReply), `cancel:${entry.id}`).pipe(
              Effect.catch((error) => Effect.logWarning(`cancel reply to ${session.chat} failed`, error))
            )
          }
          return
        }
        return yield* runDialog(session, event.chat, dialog, Option.some({ inboxId: entry.id, event }))
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
        startedAt: handling.clock.currentTimeMillisUnsafe()
      }
      session.setDialog(Option.some(dialog))
      return yield* runDialog(session, event.chat, dialog, Option.none())
    })

  const onStatus = (session: Session, event: InboundEvent.StatusChanged) =>
    Effect.gen(function*() {
      const stored = yield* handling.store.sentMessage(event.messageId)
      const moved = Option.isSome(stored) && (statusRank[event.status] ?? 0) > (statusRank[stored.value.status] ?? 0)
      if (moved) session.setStatus({ messageId: event.messageId, status: event.status, error: event.error ?? null })
      const message = moved
        ? Option.map(stored, (m) => ({ ...m, status: event.status, error: event.error }))
        : stored
      if (bot.onStatus) {
        yield* Effect.provideContext(bot.onStatus(event, message), handling.context).pipe(
          Effect.catchCause((cause) => Effect.fail(failed(cause)))
        )
      }
    })

  /** Handles `entry` in `session`; its changes stay in the session for the worker to commit. */
  const handle = (
    session: Session,
    entry: Store.Entry
  ): Effect.Effect<void, HandlerFailed | Store.LeaseLost | SqlError> =>
    Effect.catch(
      handleEvent(session, entry),
      (error): Effect.Effect<never, HandlerFailed | Store.LeaseLost | SqlError> => {
        // A lapsed hold stops the handler wherever it was (see `send`): not the handler's failure.
        if (error._tag === "HandlerFailed") {
          const lost = Cause.findDefect(error.cause)
          if (Result.isSuccess(lost) && lost.success instanceof Store.LeaseLost) return Effect.fail(lost.success)
        }
        return Effect.fail(error)
      }
    )

  const handleEvent = (session: Session, entry: Store.Entry): Effect.Effect<void, HandlerFailed | SqlError> => {
    const event = entry.event
    switch (event._tag) {
      case "MessageReceived":
        return onMessage(session, entry, event)
      case "StatusChanged":
        return onStatus(session, event)
      case "TimerFired": {
        const payload = event.payload
        if (payload._tag === "Reminder") {
          return send(session, payload.message, `timer:${event.timerId}`).pipe(
            Effect.catch((error) => Effect.logWarning(`reminder to ${session.chat} not sent: ${error.message}`)),
            Effect.asVoid
          )
        }
        const open = session.dialog
        if (Option.isNone(open) || open.value.id !== payload.dialogId) return Effect.void
        return runDialog(session, open.value.event.chat, open.value, Option.some({ inboxId: entry.id, event }))
      }
    }
  }

  return { handle }
}
