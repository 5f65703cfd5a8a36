import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it, layer } from "@effect/vitest"
import { Bot, ChatId, ConversationStore, InboundEvent, Inbox, Message, Receipt } from "@parley/core"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import type * as TestServices from "effect/TestServices"
import { type Backend, postgres, postgresBin, sqlite, startPostgres } from "./fixtures/databases.js"

const chat = ChatId.phone("+31612345678")

const received = (id: string, text: string, at = 1_000) =>
  new InboundEvent.MessageReceived({
    provider: "test",
    eventId: id,
    messageId: id,
    chat,
    sender: chat,
    content: new InboundEvent.TextContent({ text }),
    at: new Date(at)
  })

type Env = Inbox.Inbox | ConversationStore.ConversationStore | SqlClient.SqlClient

const withStore = <A, E>(backend: Backend, effect: Effect.Effect<A, E, Env>) =>
  Effect.flatMap(backend.fresh, (database) => Effect.provide(effect, Layer.provideMerge(Bot.layerStore, database)))

// The failure a crash between the dedupe mark and the inbox insert would cause, per dialect.
const breakInboxInserts = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.onDialectOrElse({
    pg: () =>
      Effect.zipRight(
        sql.unsafe(
          `CREATE FUNCTION parley_fail() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'crash'; END $$ LANGUAGE plpgsql`
        ),
        sql.unsafe(
          `CREATE TRIGGER parley_fail BEFORE INSERT ON parley_inbox FOR EACH ROW EXECUTE FUNCTION parley_fail()`
        )
      ),
    orElse: () =>
      sql.unsafe(`CREATE TRIGGER parley_fail BEFORE INSERT ON parley_inbox BEGIN SELECT RAISE(ABORT, 'crash'); END`)
  })
})
const repairInboxInserts = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.unsafe(`DROP TRIGGER parley_fail ON parley_inbox`).pipe(
      Effect.catchAll(() => sql.unsafe(`DROP TRIGGER parley_fail`))
    )
)

type Register<R> = (
  name: string,
  self: () => Effect.Effect<unknown, unknown, R | Scope.Scope | TestServices.TestServices>
) => void

const suite = <R>(register: Register<R>, backendOf: Effect.Effect<Backend, never, R>) => {
  const run = <A, E>(name: string, effect: Effect.Effect<A, E, Env>) =>
    register(name, () => Effect.flatMap(backendOf, (backend) => withStore(backend, effect)))

  run(
    "drops duplicate deliveries: three deliveries, one event",
    Effect.gen(function*() {
      const inbox = yield* Inbox.Inbox
      const event = received("m1", "hello")
      expect(yield* inbox.enqueue([event])).toEqual({ accepted: 1, duplicates: 0 })
      expect(yield* inbox.enqueue([event])).toEqual({ accepted: 0, duplicates: 1 })
      expect(yield* inbox.enqueue([event, received("m2", "again")])).toEqual({ accepted: 1, duplicates: 1 })
      expect(yield* inbox.pendingCount).toBe(2)
    })
  )

  run(
    "a crash between the dedupe mark and the enqueue loses nothing: both roll back together",
    Effect.gen(function*() {
      const inbox = yield* Inbox.Inbox
      yield* breakInboxInserts
      const failed = yield* Effect.either(inbox.enqueue([received("m1", "hello")]))
      expect(failed._tag).toBe("Left")
      yield* repairInboxInserts
      // The provider delivers again: the event is accepted, since its dedupe mark was not kept.
      expect(yield* inbox.enqueue([received("m1", "hello")])).toEqual({ accepted: 1, duplicates: 0 })
      expect(yield* inbox.pendingCount).toBe(1)
    })
  )

  run(
    "hands out a chat's events in arrival order and forgets done ones",
    Effect.gen(function*() {
      const inbox = yield* Inbox.Inbox
      const other = ChatId.phone("+31699999999")
      yield* inbox.enqueue([received("a", "1"), received("b", "2")])
      yield* inbox.enqueue([new InboundEvent.MessageReceived({ ...received("c", "x"), chat: other, sender: other })])
      expect(yield* inbox.pendingChats(10)).toEqual([chat.toString(), other.toString()])
      const first = yield* inbox.next(chat.toString())
      expect(Option.map(first, (e) => e.event._tag === "MessageReceived" && e.event.messageId)).toEqual(
        Option.some("a")
      )
      yield* inbox.markDone(Option.getOrThrow(first).id)
      const second = Option.getOrThrow(yield* inbox.next(chat.toString()))
      expect(second.event._tag === "MessageReceived" && second.event.messageId).toBe("b")
      expect(second.event).toEqual(received("b", "2"))
    })
  )

  run(
    "parks a failed event with its error",
    Effect.gen(function*() {
      const inbox = yield* Inbox.Inbox
      yield* inbox.enqueue([received("a", "1")])
      const entry = Option.getOrThrow(yield* inbox.next(chat.toString()))
      yield* inbox.recordAttempt(entry.id)
      yield* inbox.deadLetter(entry, "Error: booking service down")
      expect(yield* inbox.next(chat.toString())).toEqual(Option.none())
      const [dead] = yield* inbox.deadLetters
      expect(dead).toMatchObject({
        inboxId: entry.id,
        chat: chat.toString(),
        error: "Error: booking service down",
        attempts: 1
      })
      expect(dead!.event).toEqual(received("a", "1"))
    })
  )

  run(
    "keeps a chat's dialog, data, provider and window",
    Effect.gen(function*() {
      const store = yield* ConversationStore.ConversationStore
      const key = chat.toString()
      expect(yield* store.load(key)).toMatchObject({
        provider: undefined,
        lastInboundAt: undefined,
        dialog: Option.none()
      })
      yield* store.touchInbound(key, "wawp", 5_000)
      yield* store.touchInbound(key, "chatsend", 4_000) // older: ignored
      const dialog: ConversationStore.Dialog = {
        id: "d1",
        route: "book",
        trigger: 1,
        event: received("a", "book"),
        journal: [{ kind: "ask", key: "Name?", done: true, value: { answer: "Ada" }, by: 2 }],
        startedAt: 5_000
      }
      yield* store.saveDialog(key, Option.some(dialog))
      yield* store.saveData(key, { prefs: { lang: "nl" } })
      const row = yield* store.load(key)
      expect(row).toMatchObject({ provider: "wawp", lastInboundAt: 5_000, data: { prefs: { lang: "nl" } } })
      expect(row.dialog).toEqual(Option.some(dialog))
      yield* store.saveDialog(key, Option.none())
      expect((yield* store.load(key)).dialog).toEqual(Option.none())
    })
  )

  run(
    "a chat's lease belongs to one instance until it expires",
    Effect.gen(function*() {
      const store = yield* ConversationStore.ConversationStore
      const key = chat.toString()
      expect(yield* store.acquireLease(key, "a", Duration.seconds(30))).toBe(true)
      expect(yield* store.acquireLease(key, "b", Duration.seconds(30))).toBe(false)
      expect(yield* store.acquireLease(key, "a", Duration.seconds(30))).toBe(true)
      yield* TestClock.adjust("31 seconds")
      expect(yield* store.acquireLease(key, "b", Duration.seconds(30))).toBe(true)
      yield* store.releaseLease(key, "b")
      expect(yield* store.acquireLease(key, "a", Duration.seconds(30))).toBe(true)
    })
  )

  run(
    "timers come due once, even when two pollers race",
    Effect.gen(function*() {
      const store = yield* ConversationStore.ConversationStore
      const inbox = yield* Inbox.Inbox
      const key = chat.toString()
      const reminder = { _tag: "Reminder" as const, message: Message.text(chat, "Your appointment is tomorrow") }
      const id = yield* store.scheduleTimer(key, 60_000, reminder)
      const cancelled = yield* store.scheduleTimer(key, 30_000, { _tag: "DialogTimer", dialogId: "d1", step: 2 })
      yield* store.cancelTimer(cancelled)
      expect(yield* store.nextTimerAt).toEqual(Option.some(60_000))
      expect(yield* store.dueTimers(59_999, 10)).toEqual([])
      const due = yield* store.dueTimers(60_000, 10)
      expect(due.map((t) => [t.timerId, t.payload])).toEqual([[id, reminder]])
      yield* Effect.all([inbox.enqueueTimer(due[0]!), inbox.enqueueTimer(due[0]!)], { concurrency: 2 })
      expect(yield* inbox.pendingCount).toBe(1)
      expect(yield* store.dueTimers(120_000, 10)).toEqual([])
    })
  )

  run(
    "status updates only move forward",
    Effect.gen(function*() {
      const store = yield* ConversationStore.ConversationStore
      const key = chat.toString()
      yield* store.recordSent(
        key,
        new Receipt.Receipt({ provider: "wawp", messageId: "w1", status: "sent", at: new Date(1) })
      )
      const status = (s: InboundEvent.DeliveryStatus, error?: string) =>
        store.updateStatus(
          new InboundEvent.StatusChanged({
            provider: "wawp",
            eventId: `${s}`,
            messageId: "w1",
            status: s,
            error,
            at: new Date(2)
          })
        )
      expect(Option.map(yield* status("read"), (m) => m.status)).toEqual(Option.some("read"))
      expect(Option.map(yield* status("delivered"), (m) => m.status)).toEqual(Option.some("read"))
      expect(Option.map(yield* status("failed", "131026"), (m) => [m.status, m.error])).toEqual(
        Option.some(["failed", "131026"])
      )
      expect(
        yield* store.updateStatus(
          new InboundEvent.StatusChanged({
            provider: "wawp",
            eventId: "x",
            messageId: "unknown",
            status: "read",
            at: new Date(2)
          })
        )
      )
        .toEqual(Option.none())
      expect((yield* store.sentMessages(key)).map((m) => m.status)).toEqual(["failed"])
    })
  )

  run(
    "the durable idempotency store keeps receipts for their window",
    Effect.gen(function*() {
      const idempotency = yield* ConversationStore.makeIdempotencyStore
      const receipt = new Receipt.Receipt({ provider: "wawp", messageId: "w1", status: "sent", at: new Date(1) })
      yield* idempotency.set("k", receipt, Duration.minutes(5))
      expect(yield* idempotency.get("k")).toEqual(Option.some(receipt))
      yield* TestClock.adjust("6 minutes")
      expect(yield* idempotency.get("k")).toEqual(Option.none())
    })
  )
}

describe("store on SQLite", () => {
  suite<never>((name, self) => it.scoped(name, self), Effect.succeed(sqlite))

  it.scoped("runs SQLite in WAL mode with synchronous = NORMAL", () =>
    withStore(
      sqlite,
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        expect(yield* sql`PRAGMA journal_mode`).toEqual([{ journal_mode: "wal" }])
        expect(yield* sql`PRAGMA synchronous`).toEqual([{ synchronous: 1 }])
      })
    ))
})

class PgServer extends Context.Tag("PgServer")<PgServer, { readonly url: (database: string) => string }>() {}

if (postgresBin === undefined) {
  // `.ci/run` installs PostgreSQL, so CI never gets here without failing; elsewhere, say what did not run.
  if (process.env.CI === "true") {
    it("store on PostgreSQL: PostgreSQL is installed", () => {
      throw new Error("PostgreSQL binaries not found; .ci/run installs them")
    })
  } else {
    console.warn("!!! PostgreSQL binaries not found: the PostgreSQL store suite did not run. `.ci/run` installs them.")
  }
} else {
  layer(Layer.scoped(PgServer, startPostgres), { timeout: "60 seconds" })("store on PostgreSQL", (it) => {
    suite<PgServer>((name, self) => it.scoped(name, self), Effect.map(PgServer, postgres))
  })
}
