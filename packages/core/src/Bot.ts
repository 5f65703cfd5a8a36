/**
 * A bot: routes from inbound messages to handlers and dialogs, a fallback, cancel words, and a
 * handler for delivery statuses. `Bot.layer(bot)` runs the conversation engine: it takes events from
 * the durable inbox and handles them one at a time per chat, chats in parallel (bounded), marking an
 * event done only after its handler finished; failures are retried by policy and then parked in the
 * dead-letter table with the error, never dropped.
 *
 * @example
 * ```ts
 * const bot = Bot.make({
 *   routes: [Bot.keyword(["hi", "menu"], menu), Bot.keyword("book", booking)],
 *   fallback: Conversation.reply("Type menu to see what I can do"),
 *   cancel: ["cancel", "stop"],
 *   onStatus: (status) => Effect.log(status)
 * })
 * ```
 *
 * @since 0.1.0
 */
import type * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { hostname } from "node:os"
import type * as ChatId from "./ChatId.js"
import * as Conversation from "./Conversation.js"
import * as ConversationStore from "./ConversationStore.js"
import * as Idempotency from "./Idempotency.js"
import type * as InboundEvent from "./InboundEvent.js"
import * as Inbox from "./Inbox.js"
import * as Message from "./Message.js"
import * as MessagingError from "./MessagingError.js"
import * as MessagingService from "./MessagingService.js"
import * as Migrations from "./Migrations.js"
import type { Receipt } from "./Receipt.js"

/**
 * What handles a message: plain Effect code that may use `Conversation` (`ask`, `reply`, …) and the
 * app's own services `R`. Its failures are retried, then dead-lettered.
 *
 * @since 0.1.0
 * @category models
 */
export type Handler<R> = Effect.Effect<void, unknown, Conversation.Conversation | R>

/**
 * @since 0.1.0
 * @category models
 */
export interface Route<R> {
  /** Stable name: open dialogs are stored under it. */
  readonly name: string
  readonly matches: (event: InboundEvent.MessageReceived) => boolean
  readonly handler: Handler<R>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Bot<R> {
  readonly routes: ReadonlyArray<Route<R>>
  /** Runs when no route matches (and no dialog is open). */
  readonly fallback?: Handler<R> | undefined
  /** Words that end the open dialog (matched on the whole message, any case). */
  readonly cancel?: ReadonlyArray<string> | undefined
  /** Sent when a cancel word ends a dialog. */
  readonly cancelReply?: string | undefined
  /** Receives every delivery status, with the message we sent when we know it. */
  readonly onStatus?:
    | ((
      event: InboundEvent.StatusChanged,
      message: Option.Option<ConversationStore.SentMessage>
    ) => Effect.Effect<void, unknown, R>)
    | undefined
  /**
   * Outside the 24 h window WhatsApp accepts only templates: return the template to send instead of
   * a free-form message (or `undefined` to fail with `WindowClosed`).
   */
  readonly templateFallback?: ((message: Message.Message) => Message.TemplateMessage | undefined) | undefined
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = <R = never>(bot: Bot<R>): Bot<R> => bot

const words = (event: InboundEvent.MessageReceived) => (Conversation.textOf(event) ?? "").trim().toLowerCase()

/**
 * Routes messages whose first word (or whole text) is one of `keywords`, in any case.
 *
 * @since 0.1.0
 * @category routes
 */
export const keyword = <R>(
  keywords: string | ReadonlyArray<string>,
  handler: Effect.Effect<void, unknown, R>,
  options?: { readonly name?: string | undefined }
): Route<Exclude<R, Conversation.Conversation>> => {
  const list = (typeof keywords === "string" ? [keywords] : keywords).map((k) => k.toLowerCase())
  return {
    name: options?.name ?? `keyword:${list.join("|")}`,
    matches: (event) => {
      const text = words(event)
      return list.some((k) => text === k || text.startsWith(`${k} `))
    },
    handler: handler as Handler<Exclude<R, Conversation.Conversation>>
  }
}

/**
 * Routes messages whose text matches `pattern`.
 *
 * @since 0.1.0
 * @category routes
 */
export const regex = <R>(
  pattern: RegExp,
  handler: Handler<R>,
  options?: { readonly name?: string | undefined }
): Route<R> => ({
  name: options?.name ?? `regex:${pattern.source}`,
  matches: (event) => pattern.test(Conversation.textOf(event) ?? ""),
  handler: handler as Handler<Exclude<R, Conversation.Conversation>>
})

/**
 * Routes messages that satisfy `predicate` (media, locations, …).
 *
 * @since 0.1.0
 * @category routes
 */
export const when = <R>(
  name: string,
  predicate: (event: InboundEvent.MessageReceived) => boolean,
  handler: Effect.Effect<void, unknown, R>
): Route<Exclude<R, Conversation.Conversation>> => ({
  name,
  matches: predicate,
  handler: handler as Handler<Exclude<R, Conversation.Conversation>>
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Chats handled at once (default 64). */
  readonly concurrency?: number | undefined
  /** How often to look for work from other instances and for due timers (default 1 s). */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** How long an instance holds a chat without renewing (default 1 minute). */
  readonly leaseTtl?: Duration.DurationInput | undefined
  /** Retries of a failing handler before its event is dead-lettered (default: 3, exponential from 200 ms). */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  /** The customer-service window (default 24 hours). */
  readonly window?: Duration.DurationInput | undefined
  /**
   * This instance's name in chat leases (default: the host name). A restarted instance takes its own
   * leases back at once; give each instance its own name when several share a host.
   */
  readonly instanceId?: string | undefined
}

const FALLBACK = "fallback"

/**
 * The engine, running for the life of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = <R>(
  bot: Bot<R>,
  options: Options = {}
): Effect.Effect<
  void,
  never,
  | R
  | Scope.Scope
  | MessagingService.MessagingService
  | Inbox.Inbox
  | ConversationStore.ConversationStore
  | SqlClient.SqlClient
> =>
  Effect.gen(function*() {
    const inbox = yield* Inbox.Inbox
    const store = yield* ConversationStore.ConversationStore
    const messaging = yield* MessagingService.MessagingService
    const sql = yield* SqlClient.SqlClient
    const context = yield* Effect.context<R>()
    const guard = yield* Idempotency.makeGuard({
      store: yield* ConversationStore.makeIdempotencyStore,
      namespace: "parley-dialog",
      window: "7 days"
    })
    const owner = options.instanceId ?? hostname()
    const leaseTtl = Duration.decode(options.leaseTtl ?? "1 minute")
    const pollInterval = options.pollInterval ?? "1 second"
    const pollMillis = Duration.toMillis(Duration.decode(pollInterval))
    const timersChanged = yield* Queue.sliding<void>(1)
    const window = Duration.toMillis(Duration.decode(options.window ?? "24 hours"))
    const retry = options.retry ??
      Schedule.exponential("200 millis").pipe(Schedule.intersect(Schedule.recurs(3)))
    const semaphore = yield* Effect.makeSemaphore(options.concurrency ?? 64)
    const cancelWords = new Set((bot.cancel ?? []).map((w) => w.toLowerCase()))
    const routes = new Map<string, Handler<R>>(bot.routes.map((route) => [route.name, route.handler]))
    if (bot.fallback) routes.set(FALLBACK, bot.fallback)
    const scope = yield* Effect.scope
    const active = new Set<string>()

    // Sends once per key, through the chat's provider, inside the 24 h window or as its template.
    const send = (
      chat: string,
      message: Message.Message,
      key: string
    ): Effect.Effect<Receipt, MessagingError.MessagingError> =>
      Effect.gen(function*() {
        const row = yield* Effect.orDie(store.load(chat))
        const now = yield* Clock.currentTimeMillis
        let outgoing = message
        const closed = message._tag !== "Template" &&
          (row.lastInboundAt === undefined || now - row.lastInboundAt > window)
        if (closed) {
          const template = bot.templateFallback?.(message)
          if (template === undefined) {
            return yield* new MessagingError.WindowClosed({
              provider: row.provider ?? messaging.provider,
              chat,
              reason: row.lastInboundAt === undefined
                ? "the user has never written"
                : "the user last wrote over 24 h ago"
            })
          }
          outgoing = template
        }
        // The engine's durable guard makes this send once per key; the key goes on to the service only
        // for providers that honour it natively (the service would otherwise keep it in memory too).
        const receipt = yield* guard.run(
          key,
          messaging.send(outgoing, {
            idempotencyKey: messaging.capabilities.idempotencyKeys ? key : undefined,
            preferProvider: row.provider
          })
        )
        yield* Effect.orDie(store.recordSent(chat, receipt))
        return receipt
      })

    type Outcome = Option.Option<ConversationStore.Dialog>

    const runDialog = (
      chat: ChatId.ChatId,
      dialog: ConversationStore.Dialog,
      input: Option.Option<{ readonly inboxId: number; readonly event: Inbox.Event }>
    ): Effect.Effect<Outcome, Cause.Cause<unknown>> =>
      Effect.gen(function*() {
        const handler = routes.get(dialog.route)
        if (handler === undefined) {
          yield* Effect.logWarning(
            `ending the open dialog of ${chat.toString()}: its route ${dialog.route} no longer exists`
          )
          return Option.none()
        }
        const key = chat.toString()
        const row = yield* Effect.orDie(store.load(key))
        let latest = dialog
        const suspended = yield* Deferred.make<void>()
        const service = Conversation.makeService({
          chat,
          dialog,
          input,
          data: { ...row.data },
          persist: (next) => {
            latest = next
            return Effect.orDie(store.saveDialog(key, Option.some(next)))
          },
          saveData: (data) => Effect.orDie(store.saveData(key, data)),
          send: (message, idempotencyKey) => send(key, message, idempotencyKey),
          scheduleTimer: (fireAt, payload) =>
            Effect.orDie(store.scheduleTimer(key, fireAt, payload)).pipe(
              Effect.tap(() => Queue.offer(timersChanged, undefined))
            ),
          cancelTimer: (id) => Effect.orDie(store.cancelTimer(id)),
          suspended
        })
        const result = yield* Effect.raceFirst(
          Effect.exit(Effect.provide(Effect.provideService(handler, Conversation.Conversation, service), context)),
          Effect.as(Deferred.await(suspended), "suspended" as const)
        )
        if (result === "suspended") return Option.some(latest)
        if (Exit.isSuccess(result)) return Option.none()
        const failure = Cause.failureOption(result.cause)
        if (Option.isSome(failure) && failure.value instanceof Conversation.AskTimeout) {
          yield* Effect.logInfo(`dialog ${dialog.route} in ${key} ended: ${failure.value.message}`)
          return Option.none()
        }
        const defect = Cause.dieOption(result.cause)
        if (Option.isSome(defect) && defect.value instanceof Conversation.DialogChanged) {
          yield* Effect.logWarning(`ending the open dialog of ${key}: ${defect.value.message}`)
          return Option.none()
        }
        return yield* Effect.fail(result.cause)
      })

    const commit = (entry: Inbox.Entry, dialog: Option.Option<Outcome>) =>
      Effect.orDie(sql.withTransaction(Effect.zipRight(
        Option.match(dialog, { onNone: () => Effect.void, onSome: (d) => store.saveDialog(entry.chat, d) }),
        inbox.markDone(entry.id)
      )))

    const onMessage = (entry: Inbox.Entry, event: InboundEvent.MessageReceived) =>
      Effect.gen(function*() {
        const chat = event.chat
        yield* Effect.orDie(store.touchInbound(entry.chat, event.provider, event.at.getTime()))
        const row = yield* Effect.orDie(store.load(entry.chat))
        const input = Option.some({ inboxId: entry.id, event })
        if (Option.isSome(row.dialog)) {
          const open = row.dialog.value
          if (open.trigger === entry.id) return yield* runDialog(chat, open, Option.none())
          if (cancelWords.has(words(event)) && !open.journal.some((e) => e.by === entry.id)) {
            yield* Effect.forEach(
              open.journal,
              (e) => e.timer === undefined ? Effect.void : Effect.orDie(store.cancelTimer(e.timer))
            )
            if (bot.cancelReply) {
              yield* send(entry.chat, Message.text(chat, bot.cancelReply), `cancel:${entry.id}`).pipe(
                Effect.catchAll((error) => Effect.logWarning(`cancel reply to ${entry.chat} failed`, error))
              )
            }
            return Option.none()
          }
          return yield* runDialog(chat, open, input)
        }
        const route = bot.routes.find((r) => r.matches(event))
        const name = route?.name ?? (bot.fallback ? FALLBACK : undefined)
        if (name === undefined) {
          yield* Effect.logInfo(`no route for a message in ${entry.chat}`)
          return Option.none()
        }
        const dialog: ConversationStore.Dialog = {
          id: `d${entry.id}`,
          route: name,
          trigger: entry.id,
          event,
          journal: [],
          startedAt: yield* Clock.currentTimeMillis
        }
        yield* Effect.orDie(store.saveDialog(entry.chat, Option.some(dialog)))
        return yield* runDialog(chat, dialog, Option.none())
      })

    const handle = (entry: Inbox.Entry): Effect.Effect<Option.Option<Outcome>, Cause.Cause<unknown>> => {
      const event = entry.event
      switch (event._tag) {
        case "MessageReceived":
          return Effect.map(onMessage(entry, event), Option.some)
        case "StatusChanged":
          return Effect.gen(function*() {
            const message = yield* Effect.orDie(store.updateStatus(event))
            if (bot.onStatus) yield* Effect.sandbox(Effect.provide(bot.onStatus(event, message), context))
            return Option.none()
          })
        case "TimerFired": {
          const payload = event.payload
          if (payload._tag === "Reminder") {
            return send(entry.chat, payload.message, `timer:${event.timerId}`).pipe(
              Effect.catchAll((error) => Effect.logWarning(`reminder to ${entry.chat} not sent: ${error.message}`)),
              Effect.as(Option.none())
            )
          }
          return Effect.gen(function*() {
            const row = yield* Effect.orDie(store.load(entry.chat))
            if (Option.isNone(row.dialog) || row.dialog.value.id !== payload.dialogId) return Option.none()
            const chat = Conversation.parseChat(entry.chat)
            return Option.some(yield* runDialog(chat, row.dialog.value, Option.some({ inboxId: entry.id, event })))
          })
        }
      }
    }

    const process = (entry: Inbox.Entry) =>
      handle(entry).pipe(
        Effect.tapError((cause) =>
          Effect.zipRight(
            Effect.orDie(inbox.recordAttempt(entry.id)),
            Effect.logError(`handler failed in ${entry.chat} (event ${entry.id})`, cause)
          )
        ),
        Effect.retry(retry),
        Effect.flatMap((outcome) => commit(entry, outcome)),
        Effect.catchAll((cause) =>
          Effect.gen(function*() {
            yield* Effect.logError(`event ${entry.id} of ${entry.chat} dead-lettered after retries`, cause)
            yield* Effect.orDie(inbox.deadLetter(entry, Cause.pretty(cause)))
            yield* Effect.orDie(store.saveDialog(entry.chat, Option.none()))
          })
        ),
        Effect.withSpan("Bot.handle", { attributes: { "parley.chat": entry.chat, "parley.event": entry.event._tag } })
      )

    // Handles a chat's events while holding its lease. A chat leased elsewhere is left to that
    // instance (or to the next poll, once the lease expires).
    const ttlMillis = Duration.toMillis(leaseTtl)
    const worker = (chat: string) =>
      Effect.gen(function*() {
        if (!(yield* store.acquireLease(chat, owner, leaseTtl))) return false
        let renewedAt = yield* Clock.currentTimeMillis
        yield* Effect.gen(function*() {
          while (true) {
            const next = yield* inbox.next(chat)
            if (Option.isNone(next)) break
            // Renew the lease once half of it has run, not before every event.
            const now = yield* Clock.currentTimeMillis
            if (now - renewedAt > ttlMillis / 2) {
              yield* store.acquireLease(chat, owner, leaseTtl)
              renewedAt = now
            }
            yield* process(next.value)
          }
        }).pipe(Effect.ensuring(Effect.ignore(store.releaseLease(chat, owner))))
        return true
      }).pipe(
        semaphore.withPermits(1),
        Effect.catchAllCause((cause) => Effect.as(Effect.logError(`chat worker ${chat} stopped`, cause), false)),
        Effect.ensuring(Effect.sync(() => active.delete(chat))),
        // Events may have arrived for this chat while the worker was finishing.
        Effect.flatMap((worked) => worked ? inbox.notify : Effect.void)
      )

    const dispatch = Effect.gen(function*() {
      const chats = yield* inbox.pendingChats((options.concurrency ?? 64) * 4)
      for (const chat of chats) {
        if (active.has(chat)) continue
        active.add(chat)
        yield* Effect.forkIn(worker(chat), scope)
      }
    }).pipe(Effect.catchAllCause((cause) => Effect.logError("inbox dispatch failed", cause)))

    const fireTimers = Effect.gen(function*() {
      const due = yield* store.dueTimers(yield* Clock.currentTimeMillis, 100)
      yield* Effect.forEach(due, inbox.enqueueTimer, { discard: true })
    }).pipe(Effect.catchAllCause((cause) => Effect.logError("timer poll failed", cause)))

    yield* dispatch.pipe(
      Effect.zipRight(Effect.raceFirst(inbox.awaitWork, Effect.sleep(pollInterval))),
      Effect.forever,
      Effect.forkIn(scope)
    )
    // Sleeps until the next timer is due (at most a poll interval, for timers other instances add);
    // timers scheduled here wake it at once.
    yield* Effect.gen(function*() {
      yield* fireTimers
      const now = yield* Clock.currentTimeMillis
      const next = yield* Effect.orElseSucceed(store.nextTimerAt, () => Option.none<number>())
      const wait = Option.match(next, {
        onNone: () => pollMillis,
        onSome: (at) => Math.min(Math.max(at - now, 0), pollMillis)
      })
      yield* Effect.raceFirst(Effect.sleep(wait), Queue.take(timersChanged))
    }).pipe(Effect.forever, Effect.forkIn(scope))
  })

/**
 * Runs the bot's engine for the life of the layer. Needs a `MessagingService`, the `Inbox` and
 * `ConversationStore` (and the `SqlClient` they share), and the services `R` its handlers use.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <R>(
  bot: Bot<R>,
  options?: Options
): Layer.Layer<
  never,
  never,
  R | MessagingService.MessagingService | Inbox.Inbox | ConversationStore.ConversationStore | SqlClient.SqlClient
> => Layer.scopedDiscard(run(bot, options))

/**
 * The stores a bot needs (and the webhook server's inbox), over the `SqlClient` in context, with
 * migrations run first.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStore: Layer.Layer<
  Inbox.Inbox | ConversationStore.ConversationStore,
  Migrator.MigrationError | SqlError,
  SqlClient.SqlClient
> = Layer.mergeAll(Inbox.layer, ConversationStore.layer).pipe(Layer.provide(Migrations.layer))
