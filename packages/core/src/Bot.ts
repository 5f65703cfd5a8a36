/**
 * A bot: routes from inbound messages to handlers and dialogs, a fallback, cancel words, and a
 * handler for delivery statuses. `Bot.layer(bot)` runs the conversation engine: it takes events from
 * the durable inbox and handles them one at a time per chat, chats in parallel (bounded); failures
 * are retried by policy and then parked in the dead-letter table with the error, never dropped.
 *
 * Per event the engine reads the chat once (its window, provider, open dialog and state), runs the
 * handler, and commits what the event changed (the dialog's journal, the state, the messages sent,
 * timers, the inbox mark) in one commit, grouped with other chats' commits and the webhooks' enqueues
 * into one transaction. The order of writes and sends: a handler's sends happen while it runs; its
 * journal and the event's inbox mark are written after them, together. A crash between a send and
 * that commit handles the event again and repeats the send (no provider here takes an idempotency key;
 * for one that does, the engine passes a key per step); it never loses an event or skips a step.
 *
 * SQLite serves one engine: it takes the database's hold at start (waiting while another live engine
 * has it; a restarted instance with the same `instanceId` takes its own hold back at once) and every
 * commit checks the hold. On PostgreSQL each chat is held by one instance at a time, with a fencing
 * token the commit checks.
 *
 * Acknowledged means on disk: on SQLite the store ({@link layerStore}) runs the file with
 * `synchronous = FULL`, so an event is on disk before its webhook is answered (the commits are grouped:
 * one fsync per batch, not per event). {@link layerStoreWith} `({ synchronous: "NORMAL" })` trades that for
 * speed: a committed webhook then survives a process crash but not a power loss or kernel panic, though
 * the provider was told 200 and will not deliver it again.
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
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Migrator from "effect/sql/Migrator"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { hostname } from "node:os"
import * as Conversation from "./Conversation.js"
import * as ConversationStore from "./ConversationStore.js"
import type * as InboundEvent from "./InboundEvent.js"
import * as Inbox from "./Inbox.js"
import * as Engine from "./internal/engine/engine.js"
import * as Handle from "./internal/engine/handle.js"
import type * as Message from "./Message.js"
import * as MessagingService from "./MessagingService.js"
import * as Migrations from "./Migrations.js"

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
      const text = Handle.words(event)
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
  /**
   * Chats handled at once (default 64). Each chat's events are handled in order; when more chats have
   * events than there are workers, a chat whose next event is already waiting goes back in line behind
   * the others (still held by this instance, on PostgreSQL), so no chat waits for another's whole backlog.
   */
  readonly concurrency?: number | undefined
  /** How often to look for work from other instances and for due timers (default 1 s). */
  readonly pollInterval?: Duration.Input | undefined
  /** How long an instance holds a chat without renewing (default 1 minute). */
  readonly leaseTtl?: Duration.Input | undefined
  /** Retries of a failing handler before its event is dead-lettered (default: 3, exponential from 200 ms). */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  /** The customer-service window (default 24 hours). */
  readonly window?: Duration.Input | undefined
  /**
   * This instance's name in chat leases (default: the host name). A restarted instance takes its own
   * leases back at once; give each instance its own name when several share a host.
   */
  readonly instanceId?: string | undefined
  /** What the store keeps (see {@link Retention}). */
  readonly retention?: Retention | undefined
}

/**
 * What the store keeps; the rest is pruned off the hot path, in small batches, every `every` (default
 * 1 minute). Fired and cancelled timers go at once, idempotency keys when their own window ends, and
 * dead letters only when a person drops them. After a pass, `Metrics.storeRows` and
 * `Metrics.storeBytes` tell each table's rows and the database's size.
 *
 * So the store holds, at most: the events of the last `dedupe` (as dedupe marks), the messages sent in the
 * last `sentMessages`, the pending timers and idempotency keys, the dead letters, and one row per chat whose
 * user wrote in the last `inactiveChats` or whose dialog is still open. A dialog that is never finished (an
 * `ask` with no `timeout` that nobody answers) keeps its chat: give such asks a timeout.
 *
 * @since 0.1.0
 * @category models
 */
export interface Retention {
  /**
   * How long a handled event's dedupe mark is kept (default 7 days: Meta redelivers for up to 7 days).
   * A provider's redelivery inside it is dropped; one after it would be handled again.
   */
  readonly dedupe?: Duration.Input | undefined
  /**
   * How long sent messages are kept to match their delivery statuses (default 30 days). A status for an
   * older message still reaches `onStatus`, without the message.
   */
  readonly sentMessages?: Duration.Input | undefined
  /**
   * How long a chat is kept once its user has stopped writing and its dialog has ended (default 365 days;
   * never less than the customer-service `window`). After that its row is deleted, within a few passes
   * (each pass looks at up to 10,000 chats, going round them in order). A chat with an open dialog, a
   * pending event or timer (a reminder), or held by a running instance is kept.
   *
   * What a returning user's next message needs is what it brings itself: it reopens the 24 h window
   * (closed long before, so its old state is moot), sets the provider the chat replies through, and starts
   * a route. What is lost is the chat's `Conversation.State` values (a returning user starts from their
   * initial values) and, on PostgreSQL, its event numbers, which start again. Sent messages, dedupe marks
   * and dead letters have windows of their own.
   */
  readonly inactiveChats?: Duration.Input | undefined
  /** How often the store is pruned (default 1 minute). */
  readonly every?: Duration.Input | undefined
}

/**
 * The engine, running for the life of the scope: it handles the inbox's events one at a time per chat,
 * chats in parallel (up to `concurrency`), reading each chat once and committing each event once (see
 * the module documentation for the order of writes and sends).
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = <R>(
  bot: Bot<R>,
  options: Options = {}
): Effect.Effect<void, never, R | Scope.Scope | MessagingService.MessagingService | Inbox.EngineStore> =>
  Effect.gen(function*() {
    const window = Duration.fromInputUnsafe(options.window ?? "24 hours")
    yield* Engine.run({
      bot,
      store: yield* Inbox.EngineStore,
      messaging: yield* MessagingService.MessagingService,
      context: yield* Effect.context<R>(),
      settings: {
        concurrency: options.concurrency ?? 64,
        pollInterval: Duration.fromInputUnsafe(options.pollInterval ?? "1 second"),
        lease: Duration.fromInputUnsafe(options.leaseTtl ?? "1 minute"),
        retry: options.retry ?? Schedule.max([Schedule.exponential("200 millis"), Schedule.recurs(3)]),
        window,
        owner: options.instanceId ?? hostname(),
        retention: {
          dedupe: Duration.fromInputUnsafe(options.retention?.dedupe ?? "7 days"),
          sentMessages: Duration.fromInputUnsafe(options.retention?.sentMessages ?? "30 days"),
          // A chat inside its window is never idle: its window's state still counts.
          inactiveChats: Duration.max(
            Duration.fromInputUnsafe(options.retention?.inactiveChats ?? "365 days"),
            window
          ),
          every: Duration.fromInputUnsafe(options.retention?.every ?? "1 minute")
        }
      }
    })
  })

/**
 * Runs the bot's engine for the life of the layer. Needs a `MessagingService`, the engine's store (from
 * {@link layerStore}, with the `Inbox` the webhooks write to), and the services `R` its handlers use.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <R>(
  bot: Bot<R>,
  options?: Options
): Layer.Layer<never, never, R | MessagingService.MessagingService | Inbox.EngineStore> =>
  Layer.effectDiscard(run(bot, options))

/**
 * How the store keeps what it was given (see {@link layerStoreWith}).
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreOptions {
  /**
   * SQLite's `PRAGMA synchronous` for the store's connection (default `"FULL"`; PostgreSQL ignores it).
   * `"FULL"`: a commit is on disk when it returns, so an event acknowledged to a provider survives a
   * power loss (one fsync per batch of commits). `"NORMAL"` (WAL): faster, and a committed webhook still
   * survives a process crash, but not a power loss or kernel panic, though the provider was told 200 and
   * will not deliver it again.
   */
  readonly synchronous?: "FULL" | "NORMAL" | undefined
}

// SQLite: the client has one connection, so the pragma holds for every statement of the store.
const durability = (synchronous: "FULL" | "NORMAL"): Layer.Layer<never, SqlError, SqlClient.SqlClient> =>
  Layer.effectDiscard(Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.onDialectOrElse({
      sqlite: () => Effect.asVoid(sql.unsafe(`PRAGMA synchronous = ${synchronous === "NORMAL" ? "NORMAL" : "FULL"}`)),
      orElse: () => Effect.void
    })))

/**
 * The stores a bot needs (and the webhook server's inbox), over the `SqlClient` in context, with
 * migrations run first, and with `options` (on SQLite, how durable a commit is).
 *
 * @example
 * ```ts
 * // Faster on SQLite; an acknowledged event may be lost to a power loss (see StoreOptions.synchronous).
 * const stores = Bot.layerStoreWith({ synchronous: "NORMAL" }).pipe(
 *   Layer.provideMerge(SqliteClient.layer({ filename: "./data/bot.db" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStoreWith = (options: StoreOptions = {}): Layer.Layer<
  Inbox.Inbox | Inbox.EngineStore | ConversationStore.ConversationStore,
  Migrator.MigrationError | SqlError,
  SqlClient.SqlClient
> =>
  Layer.mergeAll(Inbox.layer, ConversationStore.layer).pipe(
    Layer.provide(Migrations.layer),
    // First of all, before a migration or an event is written.
    Layer.provide(durability(options.synchronous ?? "FULL"))
  )

/**
 * The stores a bot needs (and the webhook server's inbox), over the `SqlClient` in context, with
 * migrations run first. On SQLite the store runs with `synchronous = FULL`: an acknowledged event is on
 * disk ({@link layerStoreWith} relaxes it).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStore: Layer.Layer<
  Inbox.Inbox | Inbox.EngineStore | ConversationStore.ConversationStore,
  Migrator.MigrationError | SqlError,
  SqlClient.SqlClient
> = layerStoreWith()
