import { describe, expect, it, layer } from "@effect/vitest"
import { Bot, ChatId, ConversationStore, InboundEvent, Inbox, Message, Receipt } from "@parley/core"
import type { Postgres } from "@parley/testing"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import * as TestClock from "effect/testing/TestClock"
import { join } from "node:path"
import type * as EngineStore from "../src/internal/engine/store.js"
import { type Backend, postgres, postgresBin, sqlite, sqliteAt, startPostgres, tempDir } from "./fixtures/databases.js"

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

type Env = Inbox.Inbox | Inbox.EngineStore | ConversationStore.ConversationStore | SqlClient.SqlClient

const withStore = <A, E>(backend: Backend, effect: Effect.Effect<A, E, Env>) =>
  Effect.flatMap(backend.fresh, (database) => Effect.provide(effect, Layer.provideMerge(Bot.layerStore, database)))

// The failure a crash between the dedupe mark and the inbox insert would cause, per dialect.
const breakInboxInserts = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.onDialectOrElse({
    pg: () =>
      Effect.andThen(
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
      Effect.catch(() => sql.unsafe(`DROP TRIGGER parley_fail`))
    )
)

type Register<R> = (
  name: string,
  self: () => Effect.Effect<unknown, unknown, R | Scope.Scope>
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
      const failed = yield* Effect.result(inbox.enqueue([received("m1", "hello")]))
      expect(failed._tag).toBe("Failure")
      yield* repairInboxInserts
      // The provider delivers again: the event is accepted, since its dedupe mark was not kept.
      expect(yield* inbox.enqueue([received("m1", "hello")])).toEqual({ accepted: 1, duplicates: 0 })
      expect(yield* inbox.pendingCount).toBe(1)
    })
  )

  // The engine's own view of the store: what the webhooks hand over, what a poll finds, what a commit writes.
  const engineStore = Inbox.EngineStore
  const hold = (owner: string, now: number, ttl = 60_000) => ({ owner, now, until: now + ttl })
  const polled = (store: EngineStore.Service, known: (id: number) => boolean = () => false) =>
    Effect.suspend(() => {
      let found: ReadonlyArray<EngineStore.Entry> = []
      return Effect.map(store.poll(known, (entries) => found = entries), () => found)
    })
  const messageId = (entry: EngineStore.Entry) => entry.event._tag === "MessageReceived" ? entry.event.messageId : "?"
  const changes = (entry: EngineStore.Entry, fields: Partial<EngineStore.Changes> = {}): EngineStore.Changes => ({
    entry,
    chat: undefined,
    sent: [],
    timers: [],
    cancelled: [],
    status: undefined,
    ...fields
  })

  run(
    "hands accepted events to listeners as they commit, and a poll finds the pending ones in order",
    Effect.gen(function*() {
      const inbox = yield* Inbox.Inbox
      const store = yield* engineStore
      const other = ChatId.phone("+31699999999")
      const handed: Array<string> = []
      const stop = store.listen((entries) => handed.push(...entries.map(messageId)))
      yield* inbox.enqueue([received("a", "1"), received("b", "2")])
      yield* inbox.enqueue([new InboundEvent.MessageReceived({ ...received("c", "x"), chat: other, sender: other })])
      yield* inbox.enqueue([received("a", "1")]) // a duplicate is not handed over again
      stop()
      expect(handed).toEqual(["a", "b", "c"])
      const pending = yield* polled(store)
      expect(pending.map(messageId)).toEqual(["a", "b", "c"])
      expect(pending.map((e) => e.chat)).toEqual([chat.toString(), chat.toString(), other.toString()])
      expect(pending[1]!.event).toEqual(received("b", "2"))
      // What the engine already has is not read again.
      expect((yield* polled(store, (id) => id !== pending[2]!.id)).map(messageId)).toEqual(["c"])
    })
  )

  run(
    "a commit writes the chat, the messages sent and the timers with the event's mark, in one go",
    Effect.gen(function*() {
      const inbox = yield* Inbox.Inbox
      const conversations = yield* ConversationStore.ConversationStore
      const store = yield* engineStore
      yield* inbox.enqueue([received("a", "1"), received("b", "2")])
      const [first] = yield* polled(store)
      const key = chat.toString()
      const loaded = Option.getOrThrow(yield* store.load(key, hold("me", 5_000)))
      expect(loaded).toMatchObject({ provider: undefined, lastInboundAt: undefined, data: {} })
      const dialog: ConversationStore.Dialog = {
        id: "d1",
        route: "book",
        trigger: first!.id,
        event: received("a", "1"),
        journal: [{ kind: "ask", key: "Your name?", done: false, timer: "d1:0" }],
        startedAt: 5
      }
      yield* store.commit(
        changes(first!, {
          chat: { ...loaded, provider: "wawp", lastInboundAt: 1_000, dialog: Option.some(dialog), data: { n: 1 } },
          sent: [new Receipt.Receipt({ provider: "wawp", messageId: "w1", status: "sent", at: new Date(2) })],
          timers: [{
            key: "d1:0",
            fireAt: 60_000,
            payload: JSON.stringify({ _tag: "DialogTimer", dialogId: "d1", step: 0 })
          }]
        }),
        hold("me", 5_000)
      )
      expect(yield* conversations.load(key)).toEqual({
        chat: key,
        provider: "wawp",
        lastInboundAt: 1_000,
        dialog: Option.some(dialog),
        data: { n: 1 }
      })
      expect((yield* conversations.sentMessages(key)).map((m) => [m.messageId, m.status])).toEqual([["w1", "sent"]])
      expect(yield* store.nextTimerAt).toEqual(Option.some(60_000))
      expect((yield* polled(store)).map(messageId)).toEqual(["b"])
      expect(yield* inbox.pendingCount).toBe(1)
      // The handled event keeps its dedupe mark: delivered again, it is a duplicate.
      expect(yield* inbox.enqueue([received("a", "1")])).toEqual({ accepted: 0, duplicates: 1 })
    })
  )

  run(
    "parks a failed event with its error and recorded attempts",
    Effect.gen(function*() {
      const inbox = yield* Inbox.Inbox
      const store = yield* engineStore
      yield* inbox.enqueue([received("a", "1")])
      const [entry] = yield* polled(store)
      yield* store.recordAttempt(entry!.id)
      yield* store.deadLetter(changes(entry!), "Error: booking service down", hold("me", 1))
      expect(yield* polled(store)).toEqual([])
      const [dead] = yield* inbox.deadLetters
      expect(dead).toMatchObject({
        inboxId: entry!.id,
        chat: chat.toString(),
        error: "Error: booking service down",
        attempts: 1
      })
      expect(dead!.event).toEqual(received("a", "1"))
    })
  )

  run(
    "dead letters: shown one by one, replayed into the inbox as new pending events in order, or dropped",
    Effect.gen(function*() {
      const inbox = yield* Inbox.Inbox
      const store = yield* engineStore
      yield* inbox.enqueue([received("a", "1"), received("b", "2"), received("c", "3")])
      for (const entry of yield* polled(store)) {
        yield* store.deadLetter(changes(entry), `failed ${entry.id}`, hold("me", 1))
      }
      const [a, b, c] = yield* inbox.deadLetters
      expect(yield* inbox.deadLetter(b!.id)).toEqual(Option.some(b))
      expect(yield* inbox.deadLetter(-1)).toEqual(Option.none())
      expect(yield* inbox.pendingCount).toBe(0)
      // An id that is not parked is left out.
      expect(yield* inbox.replay([c!.id, a!.id, -1])).toEqual([a!.id, c!.id])
      const replayed = yield* polled(store)
      expect(replayed.map(messageId)).toEqual(["a", "c"])
      expect(replayed.map((entry) => entry.attempts)).toEqual([0, 0])
      expect(replayed[0]!.id).toBeGreaterThan(c!.inboxId)
      // The original's dedupe mark still drops a provider's redelivery.
      expect(yield* inbox.enqueue([received("a", "1")])).toEqual({ accepted: 0, duplicates: 1 })
      expect(yield* inbox.drop([b!.id, a!.id])).toEqual([b!.id])
      expect(yield* inbox.deadLetters).toEqual([])
    })
  )

  run(
    "what operations read of a chat: its recent messages newest first, its pending timers, the open dialogs",
    Effect.gen(function*() {
      const inbox = yield* Inbox.Inbox
      const store = yield* engineStore
      const conversations = yield* ConversationStore.ConversationStore
      const key = chat.toString()
      yield* inbox.enqueue([received("a", "1")])
      const [entry] = yield* polled(store)
      const row = Option.getOrThrow(yield* store.load(key, hold("me", 1)))
      const dialog = {
        id: "d1",
        route: "book",
        trigger: entry!.id,
        event: received("a", "1"),
        journal: [{ kind: "ask", key: "Your name?", done: false }],
        startedAt: 1_000
      }
      const sent = (id: string, at: number) =>
        new Receipt.Receipt({ provider: "wawp", messageId: id, status: "sent", at: new Date(at) })
      yield* store.commit(
        changes(entry!, {
          chat: { ...row, dialog: Option.some(dialog) },
          sent: [sent("w1", 1_000), sent("w2", 2_000), sent("w3", 3_000)],
          timers: [{
            key: "d1:0",
            fireAt: 60_000,
            payload: JSON.stringify({ _tag: "DialogTimer", dialogId: "d1", step: 0 })
          }]
        }),
        hold("me", 1)
      )
      expect((yield* conversations.recentMessages(key, 2)).map((m) => [m.messageId, m.sentAt.getTime()])).toEqual([
        ["w3", 3_000],
        ["w2", 2_000]
      ])
      expect(yield* conversations.pendingTimers(key)).toEqual([
        { id: expect.any(Number), fireAt: new Date(60_000), payload: { _tag: "DialogTimer", dialogId: "d1", step: 0 } }
      ])
      expect(yield* conversations.nextTimer).toEqual(Option.some(new Date(60_000)))
      expect(yield* conversations.openDialogs).toBe(1)
    })
  )

  run(
    "timers come due in order, fire once however many fire them, and cancel by key",
    Effect.gen(function*() {
      const inbox = yield* Inbox.Inbox
      const store = yield* engineStore
      yield* inbox.enqueue([received("a", "1")])
      const [entry] = yield* polled(store)
      const reminder = JSON.stringify(
        Schema.encodeSync(Inbox.TimerPayload)({
          _tag: "Reminder",
          message: Message.text(chat, "Your appointment is tomorrow")
        })
      )
      yield* store.commit(
        changes(entry!, {
          timers: [
            { key: "d1:3", fireAt: 60_000, payload: reminder },
            { key: "d1:4", fireAt: 30_000, payload: JSON.stringify({ _tag: "DialogTimer", dialogId: "d1", step: 4 }) }
          ]
        }),
        hold("me", 1)
      )
      yield* inbox.enqueue([received("b", "2")])
      const [next] = yield* polled(store)
      yield* store.commit(changes(next!, { cancelled: ["d1:4"] }), hold("me", 2))
      expect(yield* store.nextTimerAt).toEqual(Option.some(60_000))
      expect(yield* store.dueTimers(59_999, 10)).toEqual([])
      const due = yield* store.dueTimers(60_000, 10)
      expect(due.map((t) => [t.chat, t.payload._tag])).toEqual([[chat.toString(), "Reminder"]])
      yield* Effect.all([store.fireTimer(due[0]!, 60_000), store.fireTimer(due[0]!, 60_000)], { concurrency: 2 })
      expect(yield* inbox.pendingCount).toBe(1)
      const [fired] = yield* polled(store)
      expect(fired!.event).toEqual(due[0])
      expect(yield* store.dueTimers(120_000, 10)).toEqual([])
    })
  )

  run(
    "retention deletes idle finished chats, and keeps those a next event, a dialog, a timer or a hold still needs",
    Effect.gen(function*() {
      const inbox = yield* Inbox.Inbox
      const store = yield* engineStore
      const conversations = yield* ConversationStore.ConversationStore
      const leased = (yield* SqlClient.SqlClient).onDialectOrElse({ pg: () => true, orElse: () => false })
      // Each chat's user wrote at 1,000; the cutoff is 50,000 and it is now 100,000.
      const cases = ["idle", "open", "pending", "timer", "recent", "held"] as const
      const chatOf = (name: (typeof cases)[number]) => ChatId.phone(`+3161000000${cases.indexOf(name)}`)
      const says = (name: (typeof cases)[number], id: string) =>
        new InboundEvent.MessageReceived({ ...received(id, "hi"), chat: chatOf(name), sender: chatOf(name) })
      yield* inbox.enqueue(cases.map((name) => says(name, name)))
      const entries = yield* polled(store)
      for (const [i, name] of cases.entries()) {
        const entry = entries[i]!
        const dialog = {
          id: `d${entry.id}`,
          route: "book",
          trigger: entry.id,
          event: says(name, name),
          journal: [{ kind: "ask", key: "Your name?", done: false }],
          startedAt: 1_000
        }
        // "recent": its row was written at 90,000 (a delivery status, say), though its user wrote long ago.
        // "held": an instance holds it until 1,000,000 (PostgreSQL; SQLite holds no chat).
        const at = hold("me", name === "recent" ? 90_000 : 1_000, name === "held" ? 999_000 : 60_000)
        const row = Option.getOrThrow(yield* store.load(entry.chat, at))
        yield* store.commit(
          changes(entry, {
            chat: {
              ...row,
              provider: "wawp",
              lastInboundAt: 1_000,
              dialog: name === "open" ? Option.some(dialog) : Option.none()
            },
            timers: name === "timer"
              ? [{
                key: "t1",
                fireAt: 500_000,
                payload: JSON.stringify({ _tag: "DialogTimer", dialogId: "x", step: 0 })
              }]
              : []
          }),
          at
        )
      }
      yield* inbox.enqueue([says("pending", "pending-2")])
      const cutoffs = { idle: 50_000, now: 100_000 }
      // A sweep looks at a range of chats at a time, in order.
      const first = yield* store.pruneChats(cutoffs, "", 2)
      expect(first).toEqual({ scanned: 2, last: chatOf("open").toString(), deleted: [chatOf("idle").toString()] })
      const rest = yield* store.pruneChats(cutoffs, first.last, 500)
      expect(rest).toEqual({
        scanned: 4,
        last: chatOf("held").toString(),
        deleted: leased ? [] : [chatOf("held").toString()]
      })
      expect(yield* store.pruneChats(cutoffs, rest.last, 500)).toEqual({ scanned: 0, last: rest.last, deleted: [] })
      const kept = new Map<string, boolean>()
      for (const name of cases) {
        kept.set(name, (yield* conversations.load(chatOf(name).toString())).provider === "wawp")
      }
      expect(Object.fromEntries(kept)).toEqual({
        idle: false,
        open: true,
        pending: true,
        timer: true,
        recent: true,
        held: leased
      })
      // The pruned chat's user comes back: a new row, and on PostgreSQL the next event is next in its order.
      yield* inbox.enqueue([says("idle", "back")])
      const [back] = (yield* polled(store)).filter((entry) => entry.chat === chatOf("idle").toString())
      const fresh = Option.getOrThrow(yield* store.load(back!.chat, hold("me", 100_000)))
      expect(fresh).toMatchObject({ provider: undefined, lastInboundAt: undefined, data: {} })
      if (leased) expect(back!.order).toBe(fresh.handledSeq + 1)
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
  suite<never>((name, self) => it.effect(name, self), Effect.succeed(sqlite))

  it.effect("serves one engine: a second waits for the hold to lapse, and the first can then commit nothing", () =>
    Effect.gen(function*() {
      const file = join(yield* tempDir("parley-hold-"), "parley.db")
      const open = Effect.map(
        Layer.build(Layer.provide(Bot.layerStore, sqliteAt(file))),
        (context) => Context.get(context, Inbox.EngineStore)
      )
      const first = yield* open
      const second = yield* open
      yield* Effect.flatMap(Inbox.Inbox, (inbox) => inbox.enqueue([received("a", "1")])).pipe(
        Effect.provide(Layer.provide(Bot.layerStore, sqliteAt(file)))
      )
      yield* first.holdEngine("engine-a", 60_000)
      const held = yield* Effect.flip(second.holdEngine("engine-b", 60_000))
      expect(held).toMatchObject({ _tag: "EngineHeld", owner: "engine-a" })
      expect(held.message).toContain("SQLite serves one engine")
      // engine-a is paused past its hold; engine-b takes the database.
      yield* TestClock.adjust("61 seconds")
      yield* second.holdEngine("engine-b", 60_000)
      let found: ReadonlyArray<EngineStore.Entry> = []
      yield* first.poll(() => false, (entries) => found = entries)
      const refused = yield* Effect.flip(first.commit(
        { entry: found[0]!, chat: undefined, sent: [], timers: [], cancelled: [], status: undefined },
        { owner: "engine-a", now: 61_000, until: 121_000 }
      ))
      expect(refused._tag).toBe("EngineDisplaced")
      yield* second.commit(
        { entry: found[0]!, chat: undefined, sent: [], timers: [], cancelled: [], status: undefined },
        { owner: "engine-b", now: 61_000, until: 121_000 }
      )
      let left: ReadonlyArray<EngineStore.Entry> = [found[0]!]
      yield* second.poll(() => false, (entries) => left = entries)
      expect(left).toEqual([])
    }))

  it.effect("runs SQLite in WAL mode with synchronous = FULL: an acknowledged event is on disk", () =>
    withStore(
      sqlite,
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        expect(yield* sql`PRAGMA journal_mode`).toEqual([{ journal_mode: "wal" }])
        expect(yield* sql`PRAGMA synchronous`).toEqual([{ synchronous: 2 }])
      })
    ))

  it.effect("relaxes SQLite to synchronous = NORMAL when the store is told to", () =>
    Effect.flatMap(sqlite.fresh, (database) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        expect(yield* sql`PRAGMA journal_mode`).toEqual([{ journal_mode: "wal" }])
        expect(yield* sql`PRAGMA synchronous`).toEqual([{ synchronous: 1 }])
        // The store works as ever.
        const inbox = yield* Inbox.Inbox
        expect(yield* inbox.enqueue([received("m1", "hello")])).toEqual({ accepted: 1, duplicates: 0 })
      }).pipe(Effect.provide(Layer.provideMerge(Bot.layerStoreWith({ synchronous: "NORMAL" }), database)))))
})

class PgServer extends Context.Service<PgServer, Postgres.Server>()("PgServer") {}

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
  layer(Layer.effect(PgServer, startPostgres), { timeout: "60 seconds" })("store on PostgreSQL", (it) => {
    suite<PgServer>((name, self) => it.effect(name, self), Effect.map(PgServer, postgres))

    it.effect("holds each chat for one instance at a time, and fences the commits of one that lost it", () =>
      Effect.flatMap(Effect.map(PgServer, postgres), (backend) =>
        withStore(
          backend,
          Effect.gen(function*() {
            const inbox = yield* Inbox.Inbox
            const store = yield* Inbox.EngineStore
            const key = chat.toString()
            yield* inbox.enqueue([received("a", "1")])
            let found: ReadonlyArray<EngineStore.Entry> = []
            yield* store.poll(() => false, (entries) => found = entries)
            const held = { owner: "a", now: 1_000, until: 61_000 }
            const a = Option.getOrThrow(yield* store.load(key, held))
            expect(yield* store.load(key, { owner: "b", now: 2_000, until: 62_000 })).toEqual(Option.none())
            // a is cut off past its hold; b takes the chat with the next token.
            const b = Option.getOrThrow(yield* store.load(key, { owner: "b", now: 61_001, until: 121_001 }))
            expect(b.token).toBeGreaterThan(a.token)
            const write = (row: typeof a, owner: string) =>
              store.commit(
                {
                  entry: found[0]!,
                  chat: { ...row, provider: owner },
                  sent: [],
                  timers: [],
                  cancelled: [],
                  status: undefined
                },
                { owner, now: 61_002, until: 121_002 }
              )
            expect((yield* Effect.flip(write(a, "a")))._tag).toBe("LeaseLost")
            yield* write(b, "b")
            const conversations = yield* ConversationStore.ConversationStore
            expect((yield* conversations.load(key)).provider).toBe("b")
          })
        )))
  })
}
