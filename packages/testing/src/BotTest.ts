/**
 * Tests for bots, with no HTTP: `BotTest.make(bot)` runs the bot's engine against a fake provider
 * that records what the bot sends, over an in-memory SQLite database, for the life of the scope.
 * A user says something; the test awaits the bot's replies; `advance` moves the `TestClock` through
 * the bot's timeouts and reminders one timer at a time; `restart` stops the engine and starts it again
 * over the same database, as a process restart would, in the middle of a dialog if the test likes.
 *
 * The engine commits on real time (its group commit waits a turn of the event loop), whatever the test
 * clock says. So every wait here first lets it settle: every event handled and committed, every due
 * timer fired, every engine fiber suspended (its timer loop asleep until the next timer). A reply that
 * never comes fails at once with `NoReply`, not after a test timeout.
 *
 * @example
 * ```ts
 * import { expect, it } from "@effect/vitest"
 * import { BotTest } from "@parley/testing"
 * import { Effect } from "effect"
 *
 * it.effect("asks, then times out under the test clock", () =>
 *   Effect.gen(function*() {
 *     const test = yield* BotTest.make(bot)
 *     const ada = test.user("+31612345678")
 *     yield* ada.says("book")
 *     expect(yield* ada.reply).toBe("What's your name?")
 *     yield* test.advance("10 minutes") // the ask times out
 *     expect(yield* ada.reply).toBe("Still there? Type book to start again.")
 *   }))
 * ```
 *
 * @since 0.1.0
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import {
  Bot,
  Capabilities,
  ChatId,
  type Conversation,
  ConversationStore,
  InboundEvent,
  Inbox,
  Message,
  MessagingService,
  Receipt
} from "@parley/core"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scheduler from "effect/Scheduler"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import type * as Migrator from "effect/sql/Migrator"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as TestClock from "effect/testing/TestClock"

/**
 * The bot handled everything it was given and sent nothing (more) to the chat.
 *
 * @since 0.1.0
 * @category errors
 */
export class NoReply extends Schema.TaggedError<NoReply>()("NoReply", {
  chat: Schema.String,
  /** What the chat was sent before, for the failure message. */
  earlier: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `the bot settled without sending another message to ${this.chat}` +
      (this.earlier.length === 0 ? " (it sent none)" : `; it had sent: ${this.earlier.map((t) => `"${t}"`).join(", ")}`)
  }
}

/**
 * A message the bot sent, with the fake provider's receipt.
 *
 * @since 0.1.0
 * @category models
 */
export interface Sent {
  readonly message: Message.Message
  readonly receipt: Receipt.Receipt
}

/**
 * Someone writing to the bot.
 *
 * @since 0.1.0
 * @category models
 */
export interface User {
  readonly chat: ChatId.ChatId
  /** Writes `text` to the bot (the webhook's part: resolves once the event is in the inbox). */
  readonly says: (text: string) => Effect.Effect<void, SqlError>
  /** Sends any content: media, a location, a reaction. */
  readonly sends: (content: InboundEvent.Content) => Effect.Effect<void, SqlError>
  /** The next message the bot sent this user, as text (see {@link render}). */
  readonly reply: Effect.Effect<string, NoReply>
  /** The next message the bot sent this user, as sent. */
  readonly next: Effect.Effect<Sent, NoReply>
  /** Everything the bot sent this user that the test has not taken yet, once it has settled. */
  readonly replies: Effect.Effect<ReadonlyArray<string>>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface BotTest {
  /** A user writing from `phone` (any form `ChatId.phone` reads). */
  readonly user: (phone: string) => User
  /** Waits until the engine has handled and committed every event and fired every due timer. */
  readonly settle: Effect.Effect<void>
  /**
   * Moves the test clock on by `duration`, stopping at each timer on the way (a timeout, a reminder) and
   * letting the engine settle there, so each fires at its own time, in order.
   */
  readonly advance: (duration: Duration.Input) => Effect.Effect<void>
  /** Stops the engine (events in flight finish) and starts it again over the same database. */
  readonly restart: Effect.Effect<void>
  /** Reports a delivery status of a message the bot sent, as the provider's webhook would. */
  readonly status: (
    sent: Sent,
    status: InboundEvent.DeliveryStatus,
    error?: string
  ) => Effect.Effect<void, SqlError>
  /** Every message the bot sent, in order. */
  readonly sent: Effect.Effect<ReadonlyArray<Sent>>
  /** The chat as the engine keeps it: window, open dialog and its journal, state. */
  readonly chat: (user: User) => Effect.Effect<ConversationStore.Chat, SqlError>
  /** Events the engine gave up on. */
  readonly deadLetters: Effect.Effect<ReadonlyArray<Inbox.DeadLetter>, SqlError>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<R, E> {
  /**
   * The services the bot's handlers use, built over the test's database (and again at each restart);
   * required when the bot needs any.
   */
  readonly services?: Layer.Layer<R, E, SqlClient.SqlClient> | undefined
  /**
   * The engine's options. The harness polls rarely and prunes hourly (work arrives in process), and
   * retries a failing handler 3 times at once (a delay would wait on the test clock).
   */
  readonly engine?: Bot.Options | undefined
  /** The fake provider's name, which users' messages come in through (default `test`). */
  readonly provider?: string | undefined
  /** What the fake provider can send (default: everything). */
  readonly capabilities?: Capabilities.Capabilities | undefined
}

/**
 * A message as text: a text message's text; anything else as `[kind]` and its caption, name or
 * template (e.g. `[image] Our waiting room`, `[template] appointment_reminder`).
 *
 * @since 0.1.0
 * @category accessors
 */
export const render = (message: Message.Message): string => {
  switch (message._tag) {
    case "Text":
      return message.text
    case "Template":
      return `[template] ${message.name}`
    case "Location":
      return `[location] ${message.name ?? `${message.latitude},${message.longitude}`}`
    case "Reaction":
      return `[reaction] ${message.emoji}`
    case "Audio":
      return "[audio]"
    case "Sticker":
      return "[sticker]"
    case "Buttons":
      return Message.asText(message).text
    default:
      return message.caption === undefined
        ? `[${Message.kind(message)}]`
        : `[${Message.kind(message)}] ${message.caption}`
  }
}

// How long (real time) `settle` waits for the engine before it gives up.
const settleLimitMillis = 10_000

// One turn of the event loop, whatever the test clock: the engine's commits run on real time.
const turn = Effect.callback<void>((resume) => void setImmediate(() => resume(Effect.void)))

type Runtime = Context.Context<Inbox.Inbox | ConversationStore.ConversationStore>

/**
 * The engine's scheduler: the current one, counting the tasks its fibers have scheduled and not yet
 * run, so `settle` can tell when every engine fiber is suspended (a timer loop that has just been
 * told of a new timer is not asleep until it has read it). Effect 3's `TestClock` waited for that
 * itself before moving; Effect 4's waits one scheduler turn.
 */
class Tracking implements Scheduler.Scheduler {
  readonly executionMode: Scheduler.Scheduler["executionMode"]
  scheduled = 0
  readonly parent: Scheduler.Scheduler
  constructor(parent: Scheduler.Scheduler) {
    this.parent = parent
    this.executionMode = parent.executionMode
  }
  shouldYield(fiber: Fiber.Fiber<unknown, unknown>): boolean {
    return this.parent.shouldYield(fiber)
  }
  makeDispatcher(): Scheduler.SchedulerDispatcher {
    const dispatcher = this.parent.makeDispatcher()
    const run = (task: () => void) => () => {
      try {
        task()
      } finally {
        this.scheduled--
      }
    }
    return {
      scheduleTask: (task, priority) => {
        this.scheduled++
        dispatcher.scheduleTask(run(task), priority)
      },
      flush: () => dispatcher.flush()
    }
  }
}

/**
 * Runs `bot` for the life of the scope. Use it under `it.effect` (which provides the scope), whose
 * `TestClock` `advance` moves.
 *
 * @since 0.1.0
 * @category constructors
 */
export function make<R extends Conversation.Conversation>(
  bot: Bot.Bot<R>,
  options?: Options<never, never>
): Effect.Effect<BotTest, SqlError | Migrator.MigrationError, Scope.Scope>
export function make<R, E>(
  bot: Bot.Bot<R>,
  options: Options<Exclude<R, Conversation.Conversation>, E> & {
    readonly services: Layer.Layer<Exclude<R, Conversation.Conversation>, E, SqlClient.SqlClient>
  }
): Effect.Effect<BotTest, E | SqlError | Migrator.MigrationError, Scope.Scope>
export function make(
  bot: Bot.Bot<any>,
  options: Options<never, unknown> = {}
): Effect.Effect<BotTest, unknown, Scope.Scope> {
  return Effect.gen(function*() {
    const provider = options.provider ?? "test"
    const all: Array<Sent> = []
    const unread = new Map<string, Array<Sent>>()
    let n = 0
    const messaging: MessagingService.Service = {
      provider,
      capabilities: options.capabilities ?? Capabilities.make({ kinds: Message.kinds, replies: Message.kinds }),
      send: (message) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          const receipt = new Receipt.Receipt({ provider, messageId: `sent-${++n}`, status: "sent", at: new Date(now) })
          const sent = { message, receipt }
          all.push(sent)
          const chat = message.to.toString()
          unread.set(chat, [...(unread.get(chat) ?? []), sent])
          return receipt
        })
    }

    // The database outlives the engine's restarts. Fresh: each test bot has its own.
    const database = yield* Layer.build(Layer.fresh(SqliteClient.layer({ filename: ":memory:" })))
    const services: Layer.Layer<never, unknown, SqlClient.SqlClient> = options.services ?? Layer.empty
    const runtimeLayer = Layer.provideMerge(
      Bot.layer(bot as Bot.Bot<never>, {
        pollInterval: "1 hour",
        retention: { every: "1 hour" },
        retry: Schedule.recurs(3),
        ...options.engine
      }).pipe(
        Layer.provide(Layer.succeed(MessagingService.MessagingService, messaging)),
        Layer.provide(services)
      ),
      Bot.layerStore
    ).pipe(Layer.provide(Layer.succeedContext(database)))

    let runtime: { readonly context: Runtime; readonly scope: Scope.Closeable } | undefined
    // The engine's fibers (forked as it starts, and theirs) run on a scheduler that counts their work.
    const scheduler = new Tracking(yield* Scheduler.Scheduler)
    // Each start builds a new engine (fresh: layers are otherwise memoized), as a new process would.
    const start = Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(Layer.fresh(runtimeLayer), scope).pipe(
        Effect.provideService(Scheduler.Scheduler, scheduler),
        Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause)))
      )
      runtime = { context, scope }
    })
    const stop = Effect.suspend(() => runtime === undefined ? Effect.void : Scope.close(runtime.scope, Exit.void))
    yield* start
    yield* Effect.addFinalizer(() => stop)
    const current = Effect.sync(() => runtime!.context)
    const inbox = Effect.map(current, Context.get(Inbox.Inbox))
    const conversations = Effect.map(current, Context.get(ConversationStore.ConversationStore))

    const settle: Effect.Effect<void> = Effect.gen(function*() {
      const store = yield* conversations
      const queue = yield* inbox
      const deadline = Date.now() + settleLimitMillis
      // Settled: twice in a row (the engine's database work waits real turns of the event loop, and each
      // such wait is followed by scheduled work), every event committed, no timer due, and no engine
      // fiber with work scheduled.
      let quiet = 0
      while (Date.now() < deadline) {
        yield* turn
        if (scheduler.scheduled > 0) {
          quiet = 0
          continue
        }
        const pending = yield* queue.pendingCount
        const now = yield* Clock.currentTimeMillis
        const next = yield* store.nextTimer
        const settled = pending === 0 && !Option.exists(next, (at) => at.getTime() <= now) &&
          scheduler.scheduled === 0
        quiet = settled ? quiet + 1 : 0
        if (quiet === 2) return
      }
      return yield* Effect.die(
        new Error(
          `the bot did not settle in ${settleLimitMillis / 1000} s: is a handler waiting on the test clock ` +
            "(Effect.sleep, a retry schedule with delays)? Move it with advance."
        )
      )
    }).pipe(Effect.orDie)

    const advance = (duration: Duration.Input) =>
      Effect.gen(function*() {
        yield* settle
        const store = yield* conversations
        const until = (yield* Clock.currentTimeMillis) + Duration.toMillis(duration)
        while (true) {
          const now = yield* Clock.currentTimeMillis
          const next = Option.getOrElse(
            Option.map(yield* Effect.orDie(store.nextTimer), (at) => at.getTime()),
            () => Infinity
          )
          yield* TestClock.adjust(Duration.millis(Math.max(Math.min(next, until) - now, 0)))
          yield* settle
          if (next >= until) return
        }
      })

    const enqueue = (event: InboundEvent.InboundEvent) =>
      Effect.flatMap(inbox, (queue) => Effect.asVoid(queue.enqueue([event])))
    const take = (chat: string) => Effect.sync(() => unread.get(chat)?.shift())

    const user = (phone: string): User => {
      const chat = ChatId.phone(phone)
      const key = chat.toString()
      const sends = (content: InboundEvent.Content) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const id = `in-${++n}`
          return enqueue(
            new InboundEvent.MessageReceived({
              provider,
              eventId: id,
              messageId: id,
              chat,
              sender: chat,
              content,
              at: new Date(now)
            })
          )
        })
      const next = Effect.gen(function*() {
        const ready = yield* take(key)
        if (ready !== undefined) return ready
        yield* settle
        const late = yield* take(key)
        if (late !== undefined) return late
        const earlier = all.filter((s) => s.message.to.toString() === key).map((s) => render(s.message))
        return yield* new NoReply({ chat: key, earlier })
      })
      return {
        chat,
        says: (text) => sends(new InboundEvent.TextContent({ text })),
        sends,
        next,
        reply: Effect.map(next, (sent) => render(sent.message)),
        replies: Effect.andThen(
          settle,
          Effect.sync(() => (unread.get(key)?.splice(0) ?? []).map((sent) => render(sent.message)))
        )
      }
    }

    return {
      user,
      settle,
      advance,
      restart: settle.pipe(Effect.andThen(stop), Effect.andThen(start), Effect.orDie),
      status: (sent, status, error) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          enqueue(
            new InboundEvent.StatusChanged({
              provider,
              eventId: `status-${++n}`,
              messageId: sent.receipt.messageId,
              chat: sent.message.to,
              status,
              ...(error === undefined ? {} : { error }),
              at: new Date(now)
            })
          )),
      sent: Effect.sync(() => [...all]),
      chat: (user) => Effect.flatMap(conversations, (store) => store.load(user.chat.toString())),
      deadLetters: Effect.flatMap(inbox, (queue) => queue.deadLetters)
    }
  })
}
