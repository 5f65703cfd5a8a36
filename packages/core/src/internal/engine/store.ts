/**
 * The engine's durable state, as units of work for the group commit: accepting events into the inbox
 * (with their dedupe marks, in one statement each), reading a chat once per event, committing what
 * handling an event changed, parking an event as a dead letter, and firing timers.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import type { Connection } from "effect/sql/SqlConnection"
import type { SqlError } from "effect/sql/SqlError"
import * as Stream from "effect/Stream"
import * as Conversation from "../../Conversation.js"
import * as InboundEvent from "../../InboundEvent.js"
import type * as Inbox from "../../Inbox.js"
import type { Receipt } from "../../Receipt.js"
import * as GroupCommit from "./groupCommit.js"
import * as rows from "./rows.js"
import * as Statements from "./statements.js"

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

/** @internal */
export interface EngineStore {
  readonly dialect: Statements.Dialect
  /** Registers a listener for events as soon as they are committed to the inbox; returns its removal. */
  readonly listen: (listener: (entries: ReadonlyArray<Entry>) => void) => () => void
  /**
   * Registers a listener for chats as soon as retention has deleted their rows (a session kept in memory
   * for one is stale); returns its removal.
   */
  readonly listenPruned: (listener: (chats: ReadonlyArray<string>) => void) => () => void
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
  /** Reads a chat (SQLite), or takes it for `owner` and reads it (PostgreSQL: none while another holds it). */
  readonly load: (
    chat: string,
    hold: { readonly owner: string; readonly now: number; readonly until: number }
  ) => Effect.Effect<Option.Option<ChatRow>, SqlError>
  readonly commit: (
    changes: Changes,
    hold: { readonly owner: string; readonly now: number; readonly until: number }
  ) => Effect.Effect<void, SqlError | LeaseLost | EngineDisplaced>
  /** Lets a chat go (PostgreSQL), unless events came for it meanwhile: those, to go on with. */
  readonly release: (chat: string, owner: string, token: number) => Effect.Effect<ReadonlyArray<Entry>, SqlError>
  /** The chat's pending events, in order (PostgreSQL: to catch up with events other instances accepted). */
  readonly chatPending: (chat: string) => Effect.Effect<ReadonlyArray<Entry>, SqlError>
  /**
   * Chats that got an event through another process (PostgreSQL `LISTEN`): the holder of such a chat
   * reads its new events at once instead of at its next poll.
   */
  readonly wakeUps: Stream.Stream<string, SqlError> | undefined
  /** Renews this instance's holds that have not lapsed (PostgreSQL); the chats renewed. */
  readonly renewChats: (owner: string, now: number, until: number) => Effect.Effect<ReadonlyArray<string>, SqlError>
  readonly recordAttempt: (id: number) => Effect.Effect<void, SqlError>
  readonly deadLetter: (
    changes: Changes,
    error: string,
    hold: { readonly owner: string; readonly now: number; readonly until: number }
  ) => Effect.Effect<void, SqlError | LeaseLost | EngineDisplaced>
  readonly sentMessage: (messageId: string) => Effect.Effect<Option.Option<rows.SentMessage>, SqlError>
  readonly dueTimers: (now: number, limit: number) => Effect.Effect<ReadonlyArray<Inbox.TimerFired>, SqlError>
  readonly nextTimerAt: Effect.Effect<Option.Option<number>, SqlError>
  readonly fireTimer: (timer: Inbox.TimerFired, now: number) => Effect.Effect<void, SqlError>
  /**
   * Takes the engine's hold on the database (SQLite serves one engine) and fences every later commit
   * of a handled event with it: a batch commits those only while the hold is still this engine's,
   * renewing it. Fails with the current holder when another live engine has it.
   */
  /**
   * Deletes up to `limit` rows per table that retention lets go (see `Retention`); whether any table had
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
  /** Rows per table, and the database's size on disk. */
  readonly size: Effect.Effect<{ readonly rows: Record<string, number>; readonly bytes: number }, SqlError>
  readonly holdEngine: (
    owner: string,
    ttlMillis: number
  ) => Effect.Effect<{ readonly renew: Effect.Effect<boolean, SqlError> }, SqlError | EngineHeld>
}

/** Another engine holds the database. @internal */
export class EngineHeld extends Data.TaggedError("EngineHeld")<{ readonly owner: string; readonly until: number }> {
  override get message() {
    return `another engine (${this.owner}) runs on this database until ${
      new Date(this.until).toISOString()
    } unless it renews its hold; SQLite serves one engine: stop it, or use PostgreSQL for several`
  }
}

/** An engine lost its hold on the database to another one while it was paused. @internal */
export class EngineDisplaced extends Data.TaggedError("EngineDisplaced")<{ readonly owner: string }> {
  override get message() {
    return `this engine (${this.owner}) no longer holds the database: another engine took it`
  }
}

/** @internal */
export const make = (options: {
  readonly eventCodec: {
    readonly encode: (event: Inbox.Event) => string
    readonly decode: (json: string) => Inbox.Event
  }
  readonly timerFired: (fields: {
    readonly timerId: number
    readonly chat: string
    readonly payload: Conversation.TimerPayload
    readonly at: Date
  }) => Inbox.TimerFired
  readonly chatKey: (event: Inbox.Event) => string
}): Effect.Effect<EngineStore, never, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const dialect: Statements.Dialect = sql.onDialectOrElse({ pg: () => "pg", orElse: () => "sqlite" })
    const s = Statements.forDialect(dialect)
    // PostgreSQL takes several writers: a few batches at once hide each other's round trips.
    const db = yield* GroupCommit.make({
      sql,
      begin: dialect === "pg" ? "BEGIN" : "BEGIN IMMEDIATE",
      connections: dialect === "pg" ? 4 : 1,
      // PostgreSQL: a transaction-scoped advisory lock per chat, taken in the order of their keys.
      // (SQLite has one writer: a transaction waits for no other.)
      lockChats: dialect === "pg"
        ? (conn, chats) => conn.execute(s.lockChats, [Statements.lockKeys(chats)], undefined)
        : undefined
    })
    const listeners = new Set<(entries: ReadonlyArray<Entry>) => void>()
    const prunedListeners = new Set<(chats: ReadonlyArray<string>) => void>()
    const run = (conn: Connection, text: string, params: ReadonlyArray<unknown>) =>
      conn.execute(text, params, undefined)
    // Reads, and writes of one statement: atomic alone, they need no transaction of their own.
    const single = <A>(f: (conn: Connection) => Effect.Effect<A, SqlError>, chat?: string) =>
      db.submit({ run: f, standalone: true, chats: chat === undefined ? undefined : [chat] })

    const decodePayload = Schema.decodeUnknownSync(Schema.fromJsonString(Conversation.TimerPayload))

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
        event: options.eventCodec.decode(String(row.event)),
        attempts: rows.int(row.attempts),
        trace: typeof row.trace === "string" ? row.trace : undefined,
        order: rows.optionalInt(row.seq) ?? id
      }
    }
    // Events of no chat (a status whose chat the provider did not say) take no place in a chat's order.
    const ordered = (chat: string) => dialect === "pg" && !chat.startsWith("message:")
    // Wake-ups name the process that sent them, which ignores its own.
    const processTag = crypto.randomUUID()
    // `@effect/sql-pg`'s client listens on a connection of its own (held while the stream runs); core does
    // not depend on it, so its `listen` is looked up on the client.
    const listener = sql as SqlClient.SqlClient & {
      readonly listen?: (
        channel: string
      ) => Effect.Effect<Queue.Dequeue<{ readonly payload: string }, SqlError>, SqlError, Scope.Scope>
    }
    // PostgreSQL: the chat's next number, under its row's lock; and a wake-up for the chat's holder.
    const takeOrder = (conn: Connection, chat: string, id: number, now: number) =>
      Effect.gen(function*() {
        if (!ordered(chat)) return id
        const [next] = yield* run(conn, s.nextSeq, [chat, now])
        const order = rows.int(next?.inbox_seq)
        yield* run(conn, s.setSeq, [order, id])
        yield* run(conn, s.notify, [`${processTag}:${chat}`])
        return order
      })

    // The statements every commit of an event shares: inbox mark, sent messages, timers, status.
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

    const writeChat = (
      conn: Connection,
      changes: Changes,
      hold: { readonly owner: string; readonly now: number; readonly until: number }
    ) =>
      Effect.gen(function*() {
        const chat = changes.chat
        if (chat === undefined) return
        const dialog = Option.isSome(chat.dialog) ? rows.encodeDialog(chat.dialog.value) : null
        const written = dialect === "pg"
          ? yield* run(conn, s.saveLeasedChat, [
            chat.provider ?? null,
            chat.lastInboundAt ?? null,
            dialog,
            JSON.stringify(chat.data),
            hold.now,
            hold.until,
            changes.entry.order,
            changes.entry.chat,
            hold.owner,
            chat.token
          ])
          : yield* run(conn, s.saveChat, [
            changes.entry.chat,
            chat.provider ?? null,
            chat.lastInboundAt ?? null,
            dialog,
            JSON.stringify(chat.data),
            hold.now
          ])
        if (written.length === 0) return yield* new LeaseLost({ chat: changes.entry.chat })
      })

    // An event's end, in one fenced commit: the chat, the event's inbox mark (`mark`: done, or dead
    // lettered), and what it sent and set.
    const finishEvent = (
      changes: Changes,
      hold: { readonly owner: string; readonly now: number; readonly until: number },
      mark: (conn: Connection) => Effect.Effect<unknown, SqlError>
    ) =>
      db.submit<void, LeaseLost | EngineDisplaced>({
        fenced: true,
        chats: [changes.entry.chat],
        run: (conn) =>
          Effect.gen(function*() {
            yield* writeChat(conn, changes, hold)
            yield* mark(conn)
            yield* writeChanges(conn, changes, hold.now)
          })
      })

    const store: EngineStore = {
      dialect,
      listen: (listener) => {
        listeners.add(listener)
        return () => listeners.delete(listener)
      },
      listenPruned: (listener) => {
        prunedListeners.add(listener)
        return () => prunedListeners.delete(listener)
      },
      enqueue: (events, now) =>
        Effect.flatMap(Effect.option(Effect.currentSpan), (span) => {
          const trace = Option.match(span, { onNone: () => undefined, onSome: (s) => `${s.traceId}:${s.spanId}` })
          const encoded = events.map((event) => ({
            event,
            chat: options.chatKey(event),
            json: options.eventCodec.encode(event),
            key: InboundEvent.dedupeKey(event)
          }))
          return db.submit({
            chats: encoded.map((e) => e.chat),
            run: (conn) =>
              Effect.gen(function*() {
                const accepted: Array<Entry> = []
                for (const e of encoded) {
                  const inserted = yield* run(conn, s.enqueue, [e.chat, e.json, now, e.key, trace ?? null])
                  if (inserted.length === 0) continue
                  const id = rows.int(inserted[0].id)
                  const order = yield* takeOrder(conn, e.chat, id, now)
                  accepted.push({ id, chat: e.chat, event: e.event, attempts: 0, trace, order })
                }
                return accepted
              }),
            onCommit: (accepted) => {
              if (accepted.length > 0) { for (const listener of listeners) listener(accepted) }
            }
          }).pipe(
            Effect.map((accepted) => ({ accepted: accepted.length, duplicates: events.length - accepted.length }))
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
      load: (chat, hold) =>
        dialect === "pg"
          ? single((conn) => run(conn, s.acquireChat, [chat, hold.now, hold.owner, hold.until, hold.now]), chat).pipe(
            Effect.map((found) => found.length === 0 ? Option.none() : Option.some(toChatRow(found[0])))
          )
          : single((conn) => run(conn, s.loadChat, [chat])).pipe(
            Effect.map((found) => Option.some(toChatRow(found[0] ?? {})))
          ),
      commit: (changes, hold) => finishEvent(changes, hold, (conn) => run(conn, s.done, [changes.entry.id])),
      release: (chat, owner, token) =>
        dialect === "pg"
          ? db.submit({
            standalone: true,
            chats: [chat],
            run: (conn) =>
              Effect.gen(function*() {
                const released = yield* run(conn, s.releaseChat, [chat, owner, token, chat])
                if (released.length > 0) return []
                return (yield* run(conn, s.chatPending, [chat])).map((row) => toEntry(chat, row))
              })
          })
          : Effect.succeed([]),
      wakeUps: dialect === "pg" && typeof listener.listen === "function"
        ? Stream.unwrap(Effect.map(listener.listen("parley_inbox"), Stream.fromQueue)).pipe(
          Stream.filterMap(({ payload }) =>
            payload.startsWith(`${processTag}:`)
              ? Result.failVoid
              : Result.succeed(payload.slice(payload.indexOf(":") + 1))
          )
        )
        : undefined,
      chatPending: (chat) =>
        single((conn) => run(conn, s.chatPending, [chat])).pipe(
          Effect.map((found) => found.map((row) => toEntry(chat, row)))
        ),
      // On a pool connection of its own, not queued behind the group commit's batches: a busy instance
      // must not lose its holds to its own backlog.
      renewChats: (owner, now, until) =>
        sql.unsafe<{ readonly chat: string }>(s.renewChats, [until, owner, now]).pipe(
          Effect.map((found) => found.map((row) => String(row.chat)))
        ),
      recordAttempt: (id) => single((conn) => Effect.asVoid(run(conn, s.attempt, [id]))),
      deadLetter: (changes, error, hold) =>
        finishEvent(changes, hold, (conn) =>
          Effect.andThen(
            run(conn, s.deadLetter, [error, hold.now, changes.entry.id]),
            run(conn, s.dead, [changes.entry.id])
          )),
      sentMessage: (messageId) =>
        single((conn) => run(conn, s.sentMessage, [messageId])).pipe(
          Effect.map((found) => found.length === 0 ? Option.none() : Option.some(rows.toSentMessage(found[0])))
        ),
      dueTimers: (now, limit) =>
        single((conn) => run(conn, s.dueTimers, [now, limit])).pipe(
          Effect.map((found) =>
            found.map((row) =>
              options.timerFired({
                timerId: rows.int(row.id),
                chat: String(row.chat),
                payload: decodePayload(row.payload),
                at: new Date(rows.int(row.fire_at))
              })
            )
          )
        ),
      nextTimerAt: single((conn) => run(conn, s.nextTimer, [])).pipe(
        Effect.map((found) => Option.fromNullishOr(rows.optionalInt(found[0]?.at)))
      ),
      fireTimer: (timer, now) =>
        db.submit({
          chats: [timer.chat],
          run: (conn) =>
            Effect.gen(function*() {
              const claimed = yield* run(conn, s.claimTimer, [timer.timerId])
              if (claimed.length === 0) return []
              const inserted = yield* run(conn, s.enqueueTimer, [
                timer.chat,
                options.eventCodec.encode(timer),
                now
              ])
              const id = rows.int(inserted[0].id)
              const order = yield* takeOrder(conn, timer.chat, id, now)
              return [{ id, chat: timer.chat, event: timer, attempts: 0, trace: undefined, order }]
            }),
          onCommit: (accepted) => {
            if (accepted.length > 0) { for (const listener of listeners) listener(accepted) }
          }
        }).pipe(Effect.asVoid),
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
          const range = yield* single((conn) =>
            run(conn, s.chatRange, [cutoffs.idle, cutoffs.idle, cutoffs.now, after, limit])
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
            onCommit: (deleted) => {
              if (deleted.length > 0) { for (const listener of prunedListeners) listener(deleted) }
            }
          })
          return { scanned: range.length, last, deleted }
        }),
      size: single((conn) =>
        Effect.gen(function*() {
          const [{ bytes, ...counts }] = yield* run(conn, s.size, [])
          return {
            rows: Object.fromEntries(Object.entries(counts).map(([table, n]) => [table, rows.int(n)])),
            bytes: rows.int(bytes ?? 0)
          }
        })
      ),
      holdEngine: (owner, ttlMillis) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const taken = yield* single((conn) => run(conn, s.takeEngine, [owner, now + ttlMillis, now]))
          if (taken.length === 0) {
            const [holder] = yield* single((conn) => run(conn, s.engineHolder, []))
            return yield* new EngineHeld({ owner: String(holder?.owner), until: rows.int(holder?.lease_until) })
          }
          const token = rows.int(taken[0].token)
          const renew = (conn: Connection) =>
            Effect.flatMap(
              Clock.currentTimeMillis,
              (at) => Effect.map(run(conn, s.holdEngine, [at + ttlMillis, owner, token]), (found) => found.length > 0)
            )
          db.setFence((conn) =>
            Effect.flatMap(renew(conn), (held) => held ? Effect.void : Effect.fail(new EngineDisplaced({ owner })))
          )
          return { renew: single(renew) }
        })
    }
    return store
  })
