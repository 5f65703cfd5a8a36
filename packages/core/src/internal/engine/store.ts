/**
 * The engine's store: its durable state, reached through its own tag ({@link EngineStore}), as units of
 * work for the group commit (`groupCommit.ts`: one transaction per batch, many chats' work in each). It is
 * made of named parts, each a function below:
 *
 * - {@link inboxPart}: accepting events into the inbox (each with its dedupe mark, in one statement),
 *   handing them to the engine as their transaction commits, finding what other processes accepted;
 * - {@link chatsPart}: reading a chat once for its events, committing what handling an event changed
 *   together with the event's inbox mark (or parking the event as a dead letter), letting the chat go;
 * - {@link timersPart}: the timers that came due, fired into the inbox once however many engines fire them;
 * - {@link retentionPart}: pruning what no longer serves a purpose, and the store's size;
 * - {@link enginePart}: the engine's hold on a database that serves one engine (SQLite).
 *
 * What differs between SQLite and PostgreSQL is not here but in `coordination.ts`, chosen once in
 * {@link make} by the database in use.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import type { Connection } from "effect/sql/SqlConnection"
import type { SqlError } from "effect/sql/SqlError"
import type * as Stream from "effect/Stream"
import * as InboundEvent from "../../InboundEvent.js"
import type * as Inbox from "../../Inbox.js"
import type { Receipt } from "../../Receipt.js"
import * as ChatKey from "./chatKey.js"
import * as Coordination from "./coordination.js"
import * as Events from "./events.js"
import * as GroupCommit from "./groupCommit.js"
import * as rows from "./rows.js"

export {
  /** @internal */
  EngineDisplaced,
  /** @internal */
  EngineHeld,
  /** @internal */
  LeaseLost
} from "./coordination.js"

/**
 * An event accepted into the inbox, as handed to the engine, with the trace of the request that brought
 * it (`traceId:spanId`), which the engine's span for it links to.
 *
 * @internal
 */
export interface Entry extends Inbox.Entry {
  readonly trace: string | undefined
  /** Its place in its chat's order: the chat's event number on PostgreSQL, the inbox id on SQLite. */
  readonly order: number
}

/** A chat's row as the engine reads it. @internal */
export interface ChatRow {
  readonly provider: string | undefined
  readonly lastInboundAt: number | undefined
  readonly dialog: Option.Option<rows.Dialog>
  readonly data: Record<string, unknown>
  /** The fencing token of this instance's hold (PostgreSQL); 0 on SQLite. */
  readonly token: number
  /** The number of the chat's last handled event (PostgreSQL); 0 on SQLite. */
  readonly handledSeq: number
}

/** What handling one event changed, written in one commit. @internal */
export interface Changes {
  readonly entry: Entry
  /** The chat's new row, when it changed (on PostgreSQL always: the commit is fenced by it). */
  readonly chat: ChatRow | undefined
  readonly sent: ReadonlyArray<Receipt>
  readonly timers: ReadonlyArray<{ readonly key: string; readonly fireAt: number; readonly payload: string }>
  readonly cancelled: ReadonlyArray<string | number>
  readonly status: { readonly messageId: string; readonly status: string; readonly error: string | null } | undefined
}

/** Who acts for a chat, when, and until when. @internal */
export type Hold = Coordination.Hold

/** The inbox's side of the store. @internal */
export interface InboxPart {
  /** Registers a listener for events as soon as they are committed to the inbox; returns its removal. */
  readonly listen: (listener: (entries: ReadonlyArray<Entry>) => void) => () => void
  /** Stores the events not seen before, each with its dedupe mark in the same statement. */
  readonly enqueue: (
    events: ReadonlyArray<InboundEvent.InboundEvent>,
    now: number
  ) => Effect.Effect<{ readonly accepted: number; readonly duplicates: number }, SqlError>
  /**
   * Reads the pending events that `known` does not have and hands them to `found` as soon as the
   * read commits (in the group commit's order, so never after the event's own commit).
   */
  readonly poll: (
    known: (id: number) => boolean,
    found: (entries: ReadonlyArray<Entry>) => void
  ) => Effect.Effect<void, SqlError>
  /** The chat's pending events, in order (PostgreSQL: to catch up with events other instances accepted). */
  readonly chatPending: (chat: string) => Effect.Effect<ReadonlyArray<Entry>, SqlError>
  readonly recordAttempt: (id: number) => Effect.Effect<void, SqlError>
  /**
   * Moves the parked events back into the inbox, in their order, as new pending events, each taking its
   * chat's next number (PostgreSQL), and removes their dead letters, in one transaction; hands them to the
   * listeners as it commits. The ids replayed (an id that is not parked is left out).
   */
  readonly replay: (ids: ReadonlyArray<number>, now: number) => Effect.Effect<ReadonlyArray<number>, SqlError>
  /** Chats that got an event through another process (PostgreSQL `LISTEN`), for their holder to read at once. */
  readonly wakeUps: Stream.Stream<string, SqlError> | undefined
}

/** The chats' side of the store. @internal */
export interface ChatsPart {
  /** Reads a chat (SQLite), or takes it for `hold.owner` and reads it (PostgreSQL: none while another holds it). */
  readonly load: (chat: string, hold: Hold) => Effect.Effect<Option.Option<ChatRow>, SqlError>
  /** Commits what handling an event changed, with the event's inbox mark (done). */
  readonly commit: (
    changes: Changes,
    hold: Hold
  ) => Effect.Effect<void, SqlError | Coordination.LeaseLost | Coordination.EngineDisplaced>
  /** Commits what handling an event changed, and parks the event as a dead letter with `error`. */
  readonly deadLetter: (
    changes: Changes,
    error: string,
    hold: Hold
  ) => Effect.Effect<void, SqlError | Coordination.LeaseLost | Coordination.EngineDisplaced>
  /** Lets a chat go (PostgreSQL), unless events came for it meanwhile: those, to go on with. */
  readonly release: (chat: string, owner: string, token: number) => Effect.Effect<ReadonlyArray<Entry>, SqlError>
  /** Renews this instance's holds that have not lapsed (PostgreSQL); the chats renewed. */
  readonly renewChats: (owner: string, now: number, until: number) => Effect.Effect<ReadonlyArray<string>, SqlError>
  readonly sentMessage: (messageId: string) => Effect.Effect<Option.Option<rows.SentMessage>, SqlError>
}

/** The timers' side of the store. @internal */
export interface TimersPart {
  readonly dueTimers: (now: number, limit: number) => Effect.Effect<ReadonlyArray<Events.TimerFired>, SqlError>
  readonly nextTimerAt: Effect.Effect<Option.Option<number>, SqlError>
  /** Claims the timer and enqueues it as an event of its chat, once however many fire it. */
  readonly fireTimer: (timer: Events.TimerFired, now: number) => Effect.Effect<void, SqlError>
}

/** Retention's side of the store. @internal */
export interface RetentionPart {
  /**
   * Deletes up to `limit` rows per table that retention lets go (see `retention.ts`); whether any table had
   * more.
   */
  readonly prune: (
    cutoffs: { readonly dedupe: number; readonly sentMessages: number; readonly now: number },
    limit: number
  ) => Effect.Effect<boolean, SqlError>
  /**
   * Looks at the next `limit` chats after `after` (in key order) and deletes those a returning user's next
   * message does not need: dialog finished, idle since `cutoffs.idle` (nothing written to the chat, no
   * message from its user), held by no live instance, and no pending event or timer. Returns how many it
   * looked at, the last of them (where the next sweep goes on), and the chats deleted.
   */
  readonly pruneChats: (
    cutoffs: { readonly idle: number; readonly now: number },
    after: string,
    limit: number
  ) => Effect.Effect<
    { readonly scanned: number; readonly last: string; readonly deleted: ReadonlyArray<string> },
    SqlError
  >
  /**
   * Registers a listener for chats as soon as retention has deleted their rows (a session kept in memory
   * for one is stale); returns its removal.
   */
  readonly listenPruned: (listener: (chats: ReadonlyArray<string>) => void) => () => void
  /** Rows per table, and the database's size on disk. */
  readonly size: Effect.Effect<{ readonly rows: Record<string, number>; readonly bytes: number }, SqlError>
}

/** The engine's hold on a database that serves one engine (SQLite). @internal */
export interface EnginePart {
  /**
   * Takes the engine's hold on the database and fences every later commit of a handled event with it: a
   * batch commits those only while the hold is still this engine's, renewing it. Fails with the current
   * holder when another live engine has it.
   */
  readonly holdEngine: (
    owner: string,
    ttlMillis: number
  ) => Effect.Effect<{ readonly renew: Effect.Effect<boolean, SqlError> }, SqlError | Coordination.EngineHeld>
}

/** @internal */
export interface Service extends InboxPart, ChatsPart, TimersPart, RetentionPart, EnginePart {
  /** How engines share this database (chosen by it, once). */
  readonly coordination: Coordination.Coordination
}

/**
 * The engine's store. `Inbox.layer` (and `Bot.layerStore`) provides it beside the `Inbox`, which shares its
 * group commit; `Bot.layer` needs it.
 *
 * @since 0.2.0
 * @category tags
 */
export class EngineStore extends Context.Service<EngineStore, Service>()("@parley/core/EngineStore") {}

/** Hands what a unit committed to listeners, in commit order. */
const listeners = <A>() => {
  const all = new Set<(a: ReadonlyArray<A>) => void>()
  return {
    add: (listener: (a: ReadonlyArray<A>) => void) => {
      all.add(listener)
      return () => void all.delete(listener)
    },
    emit: (a: ReadonlyArray<A>) => {
      if (a.length > 0) { for (const listener of all) listener(a) }
    }
  }
}

/** The store over the `SqlClient` in context, for the life of the scope. @internal */
export const make: Effect.Effect<Service, never, SqlClient.SqlClient | Scope.Scope> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // The one choice of database: everything that differs between SQLite and PostgreSQL follows from it.
  const coordination = Coordination.forDialect(sql.onDialectOrElse({ pg: () => "pg", orElse: () => "sqlite" }))
  const statements = coordination.statements
  const db = yield* GroupCommit.make({ sql, ...coordination.transactions })
  const parts: Coordination.StoreParts = {
    sql,
    statements,
    db,
    run: (conn, text, params) => conn.execute(text, params, undefined),
    toChatRow,
    toEntry
  }
  const side = coordination.store(parts)
  const accepted = listeners<Entry>()
  return {
    coordination,
    ...inboxPart(parts, side, accepted),
    ...chatsPart(parts, side),
    ...timersPart(parts, side, accepted.emit),
    ...retentionPart(parts),
    ...enginePart(parts)
  }
})

/** The store as a layer. @internal */
export const layer: Layer.Layer<EngineStore, never, SqlClient.SqlClient> = Layer.effect(EngineStore, make)

const toChatRow = (row: any): ChatRow => ({
  provider: typeof row.provider === "string" ? row.provider : undefined,
  lastInboundAt: rows.optionalInt(row.last_inbound_at),
  dialog: typeof row.dialog === "string" ? Option.some(rows.decodeDialog(row.dialog)) : Option.none(),
  data: typeof row.data === "string" ? JSON.parse(row.data) : {},
  token: rows.optionalInt(row.lease_token) ?? 0,
  handledSeq: rows.optionalInt(row.handled_seq) ?? 0
})

const toEntry = (chat: string, row: any): Entry => {
  const id = rows.int(row.id)
  return {
    id,
    chat,
    event: Events.decodeEvent(String(row.event)),
    attempts: rows.int(row.attempts),
    trace: typeof row.trace === "string" ? row.trace : undefined,
    order: rows.optionalInt(row.seq) ?? id
  }
}

// Reads, and writes of one statement: atomic alone, they need no transaction of their own.
const single = <A>(db: GroupCommit.GroupCommit, f: (conn: Connection) => Effect.Effect<A, SqlError>) =>
  db.submit({ run: f, standalone: true })

// An accepted event's place in its chat's order: a detached event takes none.
const numberEvent = (side: Coordination.StoreSide, conn: Connection, chat: string, id: number, now: number) =>
  ChatKey.isDetached(chat) ? Effect.succeed(id) : side.numberEvent(conn, chat, id, now)

/** Accepting events into the inbox, and finding them there. @internal */
export const inboxPart = (
  { db, run, statements: s }: Coordination.StoreParts,
  side: Coordination.StoreSide,
  accepted: ReturnType<typeof listeners<Entry>>
): InboxPart => ({
  listen: accepted.add,
  enqueue: (events, now) =>
    Effect.flatMap(Effect.option(Effect.currentSpan), (span) => {
      const trace = Option.match(span, { onNone: () => undefined, onSome: (s) => `${s.traceId}:${s.spanId}` })
      const encoded = events.map((event) => ({
        event,
        chat: ChatKey.of(event),
        json: Events.encodeEvent(event),
        key: InboundEvent.dedupeKey(event)
      }))
      return db.submit({
        chats: encoded.map((e) => e.chat),
        run: (conn) =>
          Effect.gen(function*() {
            const entries: Array<Entry> = []
            for (const e of encoded) {
              const inserted = yield* run(conn, s.enqueue, [e.chat, e.json, now, e.key, trace ?? null])
              if (inserted.length === 0) continue
              const id = rows.int(inserted[0].id)
              const order = yield* numberEvent(side, conn, e.chat, id, now)
              entries.push({ id, chat: e.chat, event: e.event, attempts: 0, trace, order })
            }
            return entries
          }),
        onCommit: accepted.emit
      }).pipe(
        Effect.map((entries) => ({ accepted: entries.length, duplicates: events.length - entries.length }))
      )
    }),
  poll: (known, found) =>
    db.submit({
      standalone: true,
      run: (conn) =>
        Effect.gen(function*() {
          const entries: Array<Entry> = []
          for (const row of yield* run(conn, s.pending, [])) {
            const id = rows.int(row.id)
            if (known(id)) continue
            const [stored] = yield* run(conn, s.pendingEvent, [id])
            if (stored !== undefined) entries.push(toEntry(String(row.chat), { ...stored, id }))
          }
          return entries
        }),
      onCommit: found
    }),
  chatPending: (chat) =>
    single(db, (conn) => run(conn, s.chatPending, [chat])).pipe(
      Effect.map((found) => found.map((row) => toEntry(chat, row)))
    ),
  recordAttempt: (id) => single(db, (conn) => Effect.asVoid(run(conn, s.attempt, [id]))),
  replay: (ids, now) =>
    Effect.gen(function*() {
      const ordered = [...new Set(ids)].sort((a, b) => a - b)
      // Their chats first, for the transaction's locks (PostgreSQL).
      const chats = yield* single(db, (conn) =>
        Effect.forEach(ordered, (id) =>
          Effect.map(run(conn, s.deadLetterChat, [id]), (found) => found[0]?.chat)))
      const replayed = yield* db.submit({
        chats: chats.filter((chat): chat is string =>
          typeof chat === "string"
        ),
        run: (conn) =>
          Effect.gen(function*() {
            const entries: Array<Entry> = []
            const done: Array<number> = []
            for (const dead of ordered) {
              const [inserted] = yield* run(conn, s.replayDeadLetter, [now, dead])
              if (inserted === undefined) continue
              const id = rows.int(inserted.id)
              const chat = String(inserted.chat)
              const order = yield* numberEvent(side, conn, chat, id, now)
              yield* run(conn, s.dropDeadLetter, [dead])
              const event = Events.decodeEvent(String(inserted.event))
              entries.push({ id, chat, event, attempts: 0, trace: undefined, order })
              done.push(dead)
            }
            return { entries, done }
          }),
        onCommit: ({ entries }) => accepted.emit(entries)
      })
      return replayed.done
    }),
  wakeUps: side.wakeUps
})

/** Reading, committing and letting go of chats. @internal */
export const chatsPart = (
  { db, run, statements: s }: Coordination.StoreParts,
  side: Coordination.StoreSide
): ChatsPart => {
  // The statements every commit of an event shares: sent messages, timers, status.
  const writeChanges = (conn: Connection, changes: Changes, now: number) =>
    Effect.gen(function*() {
      for (const receipt of changes.sent) {
        yield* run(conn, s.recordSent, [
          receipt.messageId,
          changes.entry.chat,
          receipt.provider,
          receipt.status,
          receipt.at.getTime(),
          now
        ])
      }
      for (const timer of changes.timers) {
        yield* run(conn, s.addTimer, [changes.entry.chat, timer.fireAt, timer.payload, timer.key])
      }
      for (const timer of changes.cancelled) {
        yield* run(conn, typeof timer === "string" ? s.cancelTimer : s.cancelLegacyTimer, [timer])
      }
      if (changes.status !== undefined) {
        yield* run(conn, s.updateStatus, [changes.status.status, changes.status.error, now, changes.status.messageId])
      }
    })

  // An event's end, in one fenced commit: the chat, the event's inbox mark (`mark`: done, or dead
  // lettered), and what it sent and set.
  const finishEvent = (changes: Changes, hold: Hold, mark: (conn: Connection) => Effect.Effect<unknown, SqlError>) =>
    db.submit<void, Coordination.LeaseLost | Coordination.EngineDisplaced>({
      fenced: true,
      chats: [changes.entry.chat],
      run: (conn) =>
        Effect.gen(function*() {
          yield* side.writeChat(conn, changes, hold)
          yield* mark(conn)
          yield* writeChanges(conn, changes, hold.now)
        })
    })

  return {
    load: side.readChat,
    commit: (changes, hold) => finishEvent(changes, hold, (conn) => run(conn, s.done, [changes.entry.id])),
    deadLetter: (changes, error, hold) =>
      finishEvent(changes, hold, (conn) =>
        Effect.andThen(
          run(conn, s.deadLetter, [error, hold.now, changes.entry.id]),
          run(conn, s.dead, [changes.entry.id])
        )),
    release: side.releaseChat,
    renewChats: side.renewChats,
    sentMessage: (messageId) =>
      single(db, (conn) => run(conn, s.sentMessage, [messageId])).pipe(
        Effect.map((found) => found.length === 0 ? Option.none() : Option.some(rows.toSentMessage(found[0])))
      )
  }
}

/** Timers that came due, fired into the inbox. @internal */
export const timersPart = (
  { db, run, statements: s }: Coordination.StoreParts,
  side: Coordination.StoreSide,
  accepted: (entries: ReadonlyArray<Entry>) => void
): TimersPart => ({
  dueTimers: (now, limit) =>
    single(db, (conn) => run(conn, s.dueTimers, [now, limit])).pipe(
      Effect.map((found) =>
        found.map((row) =>
          new Events.TimerFired({
            timerId: rows.int(row.id),
            chat: String(row.chat),
            payload: Events.decodeTimerPayload(row.payload),
            at: new Date(rows.int(row.fire_at))
          })
        )
      )
    ),
  nextTimerAt: single(db, (conn) => run(conn, s.nextTimer, [])).pipe(
    Effect.map((found) => Option.fromNullishOr(rows.optionalInt(found[0]?.at)))
  ),
  fireTimer: (timer, now) =>
    db.submit({
      chats: [timer.chat],
      run: (conn) =>
        Effect.gen(function*() {
          const claimed = yield* run(conn, s.claimTimer, [timer.timerId])
          if (claimed.length === 0) return []
          const inserted = yield* run(conn, s.enqueueTimer, [timer.chat, Events.encodeEvent(timer), now])
          const id = rows.int(inserted[0].id)
          const order = yield* numberEvent(side, conn, timer.chat, id, now)
          return [{ id, chat: timer.chat, event: timer, attempts: 0, trace: undefined, order }]
        }),
      onCommit: accepted
    }).pipe(Effect.asVoid)
})

/** Pruning, and the store's size. @internal */
export const retentionPart = ({ db, run, statements: s }: Coordination.StoreParts): RetentionPart => {
  const pruned = listeners<string>()
  return {
    prune: (cutoffs, limit) =>
      db.submit({
        run: (conn) =>
          Effect.gen(function*() {
            const deleted = [
              yield* run(conn, s.pruneInbox, [cutoffs.dedupe, limit]),
              yield* run(conn, s.pruneTimers, [limit]),
              yield* run(conn, s.pruneMessages, [cutoffs.sentMessages, limit]),
              yield* run(conn, s.pruneIdempotency, [cutoffs.now, limit])
            ]
            return deleted.some((rows) => rows.length === limit)
          })
      }),
    pruneChats: (cutoffs, after, limit) =>
      Effect.gen(function*() {
        const range = yield* single(
          db,
          (conn) => run(conn, s.chatRange, [cutoffs.idle, cutoffs.idle, cutoffs.now, after, limit])
        )
        const idle = range.filter((row) => rows.int(row.idle) === 1).map((row) => String(row.chat))
        const last = range.length === 0 ? after : String(range[range.length - 1].chat)
        if (idle.length === 0) return { scanned: range.length, last, deleted: [] }
        // Checked again and deleted under the chats' locks (PostgreSQL), so no event accepted meanwhile
        // for one of them is left without its chat's row.
        const deleted = yield* db.submit({
          chats: idle,
          run: (conn) =>
            Effect.map(
              run(conn, s.pruneChats, [JSON.stringify(idle), cutoffs.idle, cutoffs.idle, cutoffs.now]),
              (found) => found.map((row) => String(row.chat)).sort()
            ),
          onCommit: pruned.emit
        })
        return { scanned: range.length, last, deleted }
      }),
    listenPruned: pruned.add,
    size: single(db, (conn) =>
      Effect.map(run(conn, s.size, []), ([{ bytes, ...counts }]) => ({
        rows: Object.fromEntries(Object.entries(counts).map(([table, n]) => [table, rows.int(n)])),
        bytes: rows.int(bytes ?? 0)
      })))
  }
}

/** The engine's hold on the whole database (SQLite serves one engine). @internal */
export const enginePart = ({ db, run, statements: s }: Coordination.StoreParts): EnginePart => ({
  holdEngine: (owner, ttlMillis) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const taken = yield* single(db, (conn) => run(conn, s.takeEngine, [owner, now + ttlMillis, now]))
      if (taken.length === 0) {
        const [holder] = yield* single(db, (conn) => run(conn, s.engineHolder, []))
        return yield* new Coordination.EngineHeld({
          owner: String(holder?.owner),
          until: rows.int(holder?.lease_until)
        })
      }
      const token = rows.int(taken[0].token)
      const renew = (conn: Connection) =>
        Effect.flatMap(
          Clock.currentTimeMillis,
          (at) => Effect.map(run(conn, s.holdEngine, [at + ttlMillis, owner, token]), (found) => found.length > 0)
        )
      db.setFence((conn) =>
        Effect.flatMap(renew(conn), (held) =>
          held ? Effect.void : Effect.fail(new Coordination.EngineDisplaced({ owner })))
      )
      return { renew: single(db, renew) }
    })
})
