/**
 * How engines share the database: everything the engine does differently on SQLite and on PostgreSQL,
 * side by side, chosen once, when the store is made, by the database in use ({@link forDialect}).
 *
 * - **SQLite** ({@link sqlite}) serves one engine. The engine takes the whole database's hold as it
 *   starts (waiting while another live engine has it) and renews it; every batch that commits a handled
 *   event checks it, so an engine paused past its hold commits nothing more. The engine is the only writer
 *   of its chats: a chat is read, not taken, and the sessions of recently active chats are kept between
 *   events, so a chat's next event needs no read at all.
 * - **PostgreSQL** ({@link postgres}) serves several instances. Each chat is held by one instance at a
 *   time: a lease in the chat's row, taken with the read, with a fencing token that every commit checks
 *   (an instance paused or cut off past its hold can neither commit nor send for the chat again), renewed
 *   by each commit and every quarter of its time to live. Each accepted event takes its chat's next
 *   number under the chat row's lock (so an instance handles a chat's events in the order they were
 *   accepted, whichever instance accepted them) and `NOTIFY`s the holder, which reads the chat's new
 *   events at once. Each transaction first takes advisory locks on its chats, in one order, so the
 *   transactions of several connections and instances never wait for each other in a cycle.
 *
 * A detached event (a delivery status whose chat the provider did not say, `chatKey.ts`) belongs to no
 * chat's row on either database: {@link detached} handles it with nothing read or held.
 *
 * The store's side ({@link StoreSide}) is what its units of work do differently; the engine's side
 * ({@link Chats}) is how a chat's worker takes, orders, keeps and lets go of a chat, and what runs in the
 * background for as long as the engine runs.
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import type * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as SqlClient from "effect/sql/SqlClient"
import type { Connection } from "effect/sql/SqlConnection"
import type { SqlError } from "effect/sql/SqlError"
import * as Stream from "effect/Stream"
import type * as GroupCommit from "./groupCommit.js"
import type { Pending } from "./pending.js"
import * as rows from "./rows.js"
import { detached as detachedSession, Session, SessionCache } from "./session.js"
import * as Statements from "./statements.js"
import type * as Store from "./store.js"

/**
 * The chat's hold was taken by another instance (its lease ran out while this one was paused or cut
 * off): this instance must not write the chat, and the new holder handles its events.
 *
 * @internal
 */
export class LeaseLost extends Data.TaggedError("LeaseLost")<{ readonly chat: string }> {
  override get message() {
    return `another instance now holds ${this.chat}`
  }
}

/** Another engine holds the database (SQLite). @internal */
export class EngineHeld extends Data.TaggedError("EngineHeld")<{ readonly owner: string; readonly until: number }> {
  override get message() {
    return `another engine (${this.owner}) runs on this database until ${
      new Date(this.until).toISOString()
    } unless it renews its hold; SQLite serves one engine: stop it, or use PostgreSQL for several`
  }
}

/** An engine lost its hold on the database to another one while it was paused (SQLite). @internal */
export class EngineDisplaced extends Data.TaggedError("EngineDisplaced")<{ readonly owner: string }> {
  override get message() {
    return `this engine (${this.owner}) no longer holds the database: another engine took it`
  }
}

/** Who acts for a chat, when, and until when (the end of its hold, where chats are leased). @internal */
export interface Hold {
  readonly owner: string
  readonly now: number
  readonly until: number
}

/** What the store's units of work do differently per database. @internal */
export interface StoreSide {
  /** The accepted event's place in its chat's order, inside its enqueue's transaction. */
  readonly numberEvent: (conn: Connection, chat: string, id: number, now: number) => Effect.Effect<number, SqlError>
  /** Reads the chat to handle its events (and takes it, where chats are leased): none while another holds it. */
  readonly readChat: (chat: string, hold: Hold) => Effect.Effect<Option.Option<Store.ChatRow>, SqlError>
  /** Writes the chat's row in an event's commit (fenced, where chats are leased). */
  readonly writeChat: (
    conn: Connection,
    changes: Store.Changes,
    hold: Hold
  ) => Effect.Effect<void, SqlError | LeaseLost>
  /** Lets the chat go, unless events came for it meanwhile: those, to go on with. */
  readonly releaseChat: (
    chat: string,
    owner: string,
    token: number
  ) => Effect.Effect<ReadonlyArray<Store.Entry>, SqlError>
  /** Chats that got an event through another process, to read at once. */
  readonly wakeUps: Stream.Stream<string, SqlError> | undefined
  /** Renews this instance's holds on chats that have not lapsed: the chats renewed. */
  readonly renewChats: (owner: string, now: number, until: number) => Effect.Effect<ReadonlyArray<string>, SqlError>
}

/** What the store gives a database's side: its connection, statements and group commit. @internal */
export interface StoreParts {
  readonly sql: SqlClient.SqlClient
  readonly statements: Statements.Statements
  readonly db: GroupCommit.GroupCommit
  /** Runs one statement on a batch's connection. */
  readonly run: (
    conn: Connection,
    text: string,
    params: ReadonlyArray<unknown>
  ) => Effect.Effect<ReadonlyArray<any>, SqlError>
  readonly toChatRow: (row: any) => Store.ChatRow
  readonly toEntry: (chat: string, row: any) => Store.Entry
}

/** What the engine gives a database's side of chat handling. @internal */
export interface EngineParts {
  readonly store: Store.Service
  readonly pending: Pending
  /** This instance's name in holds. */
  readonly owner: string
  readonly leaseMillis: number
  readonly pollInterval: Duration.Duration
  readonly clock: Clock.Clock
  /** Another engine took the database while this one was paused: stops this engine. */
  readonly displaced: Deferred.Deferred<void>
  /** The engine's background fibers. */
  readonly fibers: FiberSet.FiberSet<unknown, unknown>
}

/** Where an event stands in its chat's order, as the chat's session knows it. @internal */
export type Place = "next" | "handled" | "ahead"

/** How a chat's worker takes, orders, keeps and lets go of chats. @internal */
export interface Chats {
  /** The hold this instance acts under, now. */
  readonly hold: () => Hold
  /** A session for the chat: its row read (and taken, where chats are leased); none while another holds it. */
  readonly open: (chat: string, hold: Hold) => Effect.Effect<Session | undefined, SqlError>
  /**
   * Where `entry` stands: `next` to handle; `handled` already (by another instance, while this one had it in
   * memory); `ahead` of events this instance has not seen (accepted by another), which are to be read first.
   */
  readonly place: (session: Session, entry: Store.Entry) => Place
  /** The event's commit, under `hold`, is on disk. */
  readonly committed: (session: Session, entry: Store.Entry, hold: Hold) => void
  /**
   * The worker is done with the chat for now (`settled`: the session holds only committed state): the events
   * that came for it meanwhile, to go on with.
   */
  readonly close: (session: Session, settled: boolean) => Effect.Effect<ReadonlyArray<Store.Entry>>
  /** Sessions kept for the worker that takes a chat next. */
  readonly sessions: SessionCache
  /** What runs for as long as the engine runs (started before the workers). */
  readonly run: Effect.Effect<void, never, Scope.Scope>
}

/** A database's way of coordinating engines. @internal */
export interface Coordination {
  readonly dialect: Statements.Dialect
  /** The engine's SQL, as this database takes it. */
  readonly statements: Statements.Statements
  /** How the group commit runs its transactions. */
  readonly transactions: {
    readonly begin: string
    readonly connections: number
    readonly lockChats:
      | ((conn: Connection, chats: ReadonlyArray<string>) => Effect.Effect<unknown, SqlError>)
      | undefined
  }
  readonly store: (parts: StoreParts) => StoreSide
  readonly chats: (parts: EngineParts) => Chats
}

// Enough for the chats active at once in a busy bot; each costs its dialog's journal and state.
const sessionCacheSize = 1_000

// This instance's hold, from now (read directly from the clock: a `Clock.currentTimeMillis` is two effects).
const holdFor = (clock: Clock.Clock, owner: string, leaseMillis: number) => (): Hold => {
  const now = clock.currentTimeMillisUnsafe()
  return { owner, now, until: now + leaseMillis }
}

/** SQLite: one engine, holding the whole database. @internal */
export const sqlite: Coordination = {
  dialect: "sqlite",
  statements: Statements.sqlite,
  // One writer: a transaction takes the write lock from its start, and waits for no other.
  transactions: { begin: "BEGIN IMMEDIATE", connections: 1, lockChats: undefined },
  store: ({ db, run, statements: s, toChatRow }) => ({
    numberEvent: (_conn, _chat, id) => Effect.succeed(id),
    readChat: (chat) =>
      db.submit({ standalone: true, run: (conn) => run(conn, s.loadChat, [chat]) }).pipe(
        Effect.map((found) => Option.some(toChatRow(found[0] ?? {})))
      ),
    // Written when the event changed it; the batch is fenced by the engine's hold.
    writeChat: (conn, changes, hold) => {
      const chat = changes.chat
      if (chat === undefined) return Effect.void
      return Effect.asVoid(run(conn, s.saveChat, [
        changes.entry.chat,
        chat.provider ?? null,
        chat.lastInboundAt ?? null,
        Option.isSome(chat.dialog) ? rows.encodeDialog(chat.dialog.value) : null,
        JSON.stringify(chat.data),
        hold.now
      ]))
    },
    releaseChat: () => Effect.succeed([]),
    wakeUps: undefined,
    renewChats: () => Effect.succeed([])
  }),
  chats: ({ clock, displaced, fibers, leaseMillis, owner, pollInterval, store }) => {
    const sessions = new SessionCache(sessionCacheSize)
    return {
      hold: holdFor(clock, owner, leaseMillis),
      open: (chat, hold) =>
        Effect.map(store.load(chat, hold), (row) => new Session(chat, Option.getOrThrow(row), Infinity, false)),
      place: () => "next",
      committed: (session, entry) => session.committed(entry),
      // Kept for the chat's next event, unless an event was cut short (it is read again then).
      close: (session, settled) =>
        Effect.sync(() => {
          if (settled) sessions.keep(session)
          return []
        }),
      sessions,
      // The database's hold, taken first (waiting while another live engine has it) and renewed every poll
      // interval or a third of the lease, whichever is longer (a hold lasts three renewals, so an engine that
      // stops is replaced within that).
      run: Effect.gen(function*() {
        const renewMillis = Math.max(Duration.toMillis(pollInterval), leaseMillis / 3)
        const held = yield* store.holdEngine(owner, 3 * renewMillis).pipe(
          Effect.tapError((error) => Effect.logWarning(`${error.message}; waiting`)),
          Effect.retry(Schedule.spaced(Duration.millis(renewMillis))),
          Effect.orDie
        )
        yield* FiberSet.run(
          fibers,
          held.renew.pipe(
            Effect.flatMap((still) => still ? Effect.void : Deferred.succeed(displaced, undefined)),
            Effect.catchCause((cause) => Effect.logError("renewing the engine's hold failed", cause)),
            Effect.delay(Duration.millis(renewMillis)),
            Effect.forever
          )
        )
      })
    }
  }
}

/** PostgreSQL: several instances, each chat leased by one at a time. @internal */
export const postgres: Coordination = {
  dialect: "pg",
  statements: Statements.postgres,
  // Several writers: a few batches at once hide each other's round trips; each transaction first takes an
  // advisory lock per chat, in the order of their keys.
  transactions: {
    begin: "BEGIN",
    connections: 4,
    lockChats: (conn, chats) => conn.execute(Statements.postgres.lockChats, [Statements.lockKeys(chats)], undefined)
  },
  store: ({ db, run, sql, statements: s, toChatRow, toEntry }) => {
    // Wake-ups name the process that sent them, which ignores its own.
    const processTag = crypto.randomUUID()
    // `@effect/sql-pg`'s client listens on a connection of its own (held while the stream runs); core does
    // not depend on it, so its `listen` is looked up on the client.
    const listener = sql as SqlClient.SqlClient & {
      readonly listen?: (
        channel: string
      ) => Effect.Effect<Queue.Dequeue<{ readonly payload: string }, SqlError>, SqlError, Scope.Scope>
    }
    return {
      // The chat's next number, under its row's lock (held to the commit, so numbers follow commit order);
      // and a wake-up for the chat's holder.
      numberEvent: (conn, chat, id, now) =>
        Effect.gen(function*() {
          const [next] = yield* run(conn, s.nextSeq, [chat, now])
          const order = rows.int(next?.inbox_seq)
          yield* run(conn, s.setSeq, [order, id])
          yield* run(conn, s.notify, [`${processTag}:${chat}`])
          return order
        }),
      // Takes the chat for this instance (or renews its own hold) and reads it, in one statement.
      readChat: (chat, hold) =>
        db.submit({
          standalone: true,
          chats: [chat],
          run: (conn) => run(conn, s.acquireChat, [chat, hold.now, hold.owner, hold.until, hold.now])
        }).pipe(Effect.map((found) => found.length === 0 ? Option.none() : Option.some(toChatRow(found[0])))),
      // Written in every commit, fenced by the hold's token (and renewing it).
      writeChat: (conn, changes, hold) =>
        Effect.gen(function*() {
          const chat = changes.chat
          if (chat === undefined) return
          const written = yield* run(conn, s.saveLeasedChat, [
            chat.provider ?? null,
            chat.lastInboundAt ?? null,
            Option.isSome(chat.dialog) ? rows.encodeDialog(chat.dialog.value) : null,
            JSON.stringify(chat.data),
            hold.now,
            hold.until,
            changes.entry.order,
            changes.entry.chat,
            hold.owner,
            chat.token
          ])
          if (written.length === 0) return yield* new LeaseLost({ chat: changes.entry.chat })
        }),
      releaseChat: (chat, owner, token) =>
        db.submit({
          standalone: true,
          chats: [chat],
          run: (conn) =>
            Effect.gen(function*() {
              const released = yield* run(conn, s.releaseChat, [chat, owner, token, chat])
              if (released.length > 0) return []
              return (yield* run(conn, s.chatPending, [chat])).map((row) => toEntry(chat, row))
            })
        }),
      wakeUps: typeof listener.listen === "function"
        ? Stream.unwrap(Effect.map(listener.listen("parley_inbox"), Stream.fromQueue)).pipe(
          Stream.filterMap(({ payload }) =>
            payload.startsWith(`${processTag}:`)
              ? Result.failVoid
              : Result.succeed(payload.slice(payload.indexOf(":") + 1))
          )
        )
        : undefined,
      // On a pool connection of its own, not queued behind the group commit's batches: a busy instance must
      // not lose its holds to its own backlog.
      renewChats: (owner, now, until) =>
        sql.unsafe<{ readonly chat: string }>(s.renewChats, [until, owner, now]).pipe(
          Effect.map((found) => found.map((row) => String(row.chat)))
        )
    }
  },
  chats: ({ clock, fibers, leaseMillis, owner, pending, pollInterval, store }) => {
    // The sessions of the chats this instance holds, whose holds it renews.
    const held = new Map<string, Session>()
    return {
      hold: holdFor(clock, owner, leaseMillis),
      open: (chat, hold) =>
        Effect.map(store.load(chat, hold), (row) => {
          if (Option.isNone(row)) return undefined
          const session = new Session(chat, row.value, hold.until, true)
          held.set(chat, session)
          return session
        }),
      place: (session, entry) =>
        entry.order <= session.handledSeq ? "handled" : entry.order === session.handledSeq + 1 ? "next" : "ahead",
      // The commit renewed the chat's hold.
      committed: (session, entry, hold) => {
        session.committed(entry)
        session.leaseUntil = hold.until
      },
      // Let go, unless events came for it meanwhile: those keep the chat here, handed to a worker again.
      close: (session) => {
        held.delete(session.chat)
        return store.release(session.chat, owner, session.token).pipe(
          Effect.orElseSucceed((): ReadonlyArray<Store.Entry> => [])
        )
      },
      // Only the sessions of chats handed back to the queue while this instance holds them (see `worker.ts`):
      // each is taken again with its chat (or, when the engine stops first, its chat stays held until the hold
      // lapses or this instance starts again, as the chat a worker was serving does).
      sessions: new SessionCache(Infinity),
      run: Effect.gen(function*() {
        // The holds on the chats this instance handles (a commit renews a chat's hold too).
        yield* FiberSet.run(
          fibers,
          Effect.gen(function*() {
            const now = clock.currentTimeMillisUnsafe()
            const until = now + leaseMillis
            const renewed = new Set(yield* store.renewChats(owner, now, until))
            for (const [chat, session] of held) if (renewed.has(chat)) session.leaseUntil = until
          }).pipe(
            Effect.catchCause((cause) => Effect.logError("renewing the chats' holds failed", cause)),
            Effect.delay(Duration.millis(leaseMillis / 4)),
            Effect.forever
          )
        )
        // The events other instances accept for the chats this one holds, picked up at once.
        const wakeUps = store.wakeUps
        if (wakeUps === undefined) return
        yield* FiberSet.run(
          fibers,
          wakeUps.pipe(
            Stream.runForEach((chat) =>
              pending.active(chat)
                ? Effect.map(store.chatPending(chat), (entries) => pending.add(entries))
                : Effect.void
            ),
            Effect.catchCause((cause) => Effect.logError("listening for wake-ups failed; polling meanwhile", cause)),
            Effect.andThen(Effect.sleep(pollInterval)),
            Effect.forever
          )
        )
      })
    }
  }
}

/** Detached events (on either database): no chat's row to read, hold or write. @internal */
export const detached = (hold: () => Hold): Chats => ({
  hold,
  open: (chat) => Effect.succeed(detachedSession(chat)),
  place: () => "next",
  committed: (session, entry) => session.committed(entry),
  close: () => Effect.succeed([]),
  sessions: new SessionCache(0),
  run: Effect.void
})

/** The coordination of the database in use. @internal */
export const forDialect = (dialect: Statements.Dialect): Coordination => dialect === "pg" ? postgres : sqlite
