/**
 * The durable inbox between the webhook server and the conversation engine. An event is accepted
 * (and the webhook answered 2xx) only once it is written here; its dedupe mark is written in the same
 * transaction, so a crash cannot both drop an event and remember having seen it. The engine takes
 * events per chat in the order they arrived and marks each done only after its handler finished, or
 * parks it in the dead-letter table with the error.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as InboundEvent from "./InboundEvent.js"
import * as Message from "./Message.js"

/**
 * What a durable timer does when it fires: wake a dialog at a step (a `sleep`, or an `ask`'s
 * timeout), or send a reminder.
 *
 * @since 0.1.0
 * @category models
 */
export const TimerPayload = Schema.Union(
  Schema.TaggedStruct("DialogTimer", { dialogId: Schema.String, step: Schema.Number }),
  Schema.TaggedStruct("Reminder", { message: Message.Message })
)

/**
 * @since 0.1.0
 * @category models
 */
export type TimerPayload = typeof TimerPayload.Type

/**
 * A durable timer came due; it is handled in its chat's order like any inbound event.
 *
 * @since 0.1.0
 * @category models
 */
export class TimerFired extends Schema.TaggedClass<TimerFired>()("TimerFired", {
  timerId: Schema.Number,
  chat: Schema.String,
  payload: TimerPayload,
  at: Schema.DateFromNumber
}) {}

/**
 * Anything the engine processes.
 *
 * @since 0.1.0
 * @category models
 */
export const Event = Schema.Union(InboundEvent.MessageReceived, InboundEvent.StatusChanged, TimerFired)

/**
 * @since 0.1.0
 * @category models
 */
export type Event = typeof Event.Type

/**
 * An event waiting in the inbox.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  readonly id: number
  readonly chat: string
  readonly event: Event
  readonly attempts: number
}

/**
 * A parked event.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeadLetter {
  readonly inboxId: number
  readonly chat: string
  readonly event: Event
  readonly error: string
  readonly attempts: number
  readonly failedAt: Date
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Stores events not seen before (by `InboundEvent.dedupeKey`), atomically with their dedupe marks. */
  readonly enqueue: (
    events: ReadonlyArray<InboundEvent.InboundEvent>
  ) => Effect.Effect<{ readonly accepted: number; readonly duplicates: number }, SqlError>
  /** Stores a fired timer's event and marks the timer done, in one transaction. */
  readonly enqueueTimer: (timer: TimerFired) => Effect.Effect<void, SqlError>
  /** Chats with pending events, oldest first. */
  readonly pendingChats: (limit: number) => Effect.Effect<ReadonlyArray<string>, SqlError>
  /** The oldest pending event of a chat. */
  readonly next: (chat: string) => Effect.Effect<Option.Option<Entry>, SqlError>
  readonly markDone: (id: number) => Effect.Effect<void, SqlError>
  readonly recordAttempt: (id: number) => Effect.Effect<void, SqlError>
  /** Moves an event to the dead-letter table with the error and its recorded attempts, in one transaction. */
  readonly deadLetter: (entry: Entry, error: string) => Effect.Effect<void, SqlError>
  readonly deadLetters: Effect.Effect<ReadonlyArray<DeadLetter>, SqlError>
  /** Events not yet done. */
  readonly pendingCount: Effect.Effect<number, SqlError>
  /** Signals the engine that there is work (in process; other instances poll). */
  readonly notify: Effect.Effect<void>
  /** Waits for a signal. */
  readonly awaitWork: Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Inbox extends Context.Tag("@parley/core/Inbox")<Inbox, Service>() {}

/** SQLite gives numbers, PostgreSQL gives BIGINTs as strings. */
const Int = Schema.Union(Schema.Number, Schema.NumberFromString)
const EventJson = Schema.parseJson(Event)
const encodeEvent = Schema.encode(EventJson)
const decodeEvent = Schema.decode(EventJson)

const EntryRow = Schema.Struct({ id: Int, chat: Schema.String, event: Schema.String, attempts: Int })
const DeadRow = Schema.Struct({
  inbox_id: Int,
  chat: Schema.String,
  event: Schema.String,
  error: Schema.String,
  attempts: Int,
  failed_at: Int
})

/**
 * The chat an event is ordered under.
 *
 * @since 0.1.0
 * @category accessors
 */
export const chatKey = (event: Event): string => {
  switch (event._tag) {
    case "MessageReceived":
      return event.chat.toString()
    case "StatusChanged":
      return event.chat ? event.chat.toString() : `message:${event.messageId}`
    case "TimerFired":
      return event.chat
  }
}

/**
 * The inbox over the `SqlClient` in context (tables from `Migrations`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Service, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const signal = yield* Queue.sliding<void>(1)
  const orDie = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.orDie(effect)

  const insert = (event: Event, now: number) =>
    Effect.flatMap(
      orDie(encodeEvent(event)),
      (json) => sql`INSERT INTO parley_inbox (chat, event, received_at) VALUES (${chatKey(event)}, ${json}, ${now})`
    )

  const toEntry = (row: typeof EntryRow.Type) =>
    Effect.map(
      orDie(decodeEvent(row.event)),
      (event): Entry => ({ id: row.id, chat: row.chat, event, attempts: row.attempts })
    )

  return {
    enqueue: (events) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        let accepted = 0
        yield* sql.withTransaction(Effect.forEach(events, (event) =>
          Effect.gen(function*() {
            const fresh = yield* sql`INSERT INTO parley_inbox_seen (key, seen_at)
              VALUES (${InboundEvent.dedupeKey(event)}, ${now})
              ON CONFLICT (key) DO NOTHING RETURNING key`
            if (fresh.length === 0) return
            yield* insert(event, now)
            accepted++
          }), { discard: true }))
        if (accepted > 0) yield* Queue.offer(signal, undefined)
        return { accepted, duplicates: events.length - accepted }
      }),
    enqueueTimer: (timer) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        yield* sql.withTransaction(Effect.gen(function*() {
          const claimed = yield* sql`UPDATE parley_timers SET state = 'fired'
            WHERE id = ${timer.timerId} AND state = 'pending' RETURNING id`
          if (claimed.length > 0) yield* insert(timer, now)
        }))
        yield* Queue.offer(signal, undefined)
      }),
    pendingChats: (limit) =>
      sql`SELECT chat, MIN(id) AS first FROM parley_inbox WHERE state = 'pending'
        GROUP BY chat ORDER BY first LIMIT ${limit}`.pipe(
        Effect.map((rows) => rows.map((row) => String(row.chat)))
      ),
    next: (chat) =>
      sql`SELECT id, chat, event, attempts FROM parley_inbox
        WHERE chat = ${chat} AND state = 'pending' ORDER BY id LIMIT 1`.pipe(
        Effect.flatMap((rows) =>
          rows.length === 0
            ? Effect.succeedNone
            : Effect.map(Effect.flatMap(orDie(Schema.decodeUnknown(EntryRow)(rows[0])), toEntry), Option.some)
        )
      ),
    markDone: (id) => Effect.asVoid(sql`UPDATE parley_inbox SET state = 'done' WHERE id = ${id}`),
    recordAttempt: (id) => Effect.asVoid(sql`UPDATE parley_inbox SET attempts = attempts + 1 WHERE id = ${id}`),
    deadLetter: (entry, error) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const json = yield* orDie(encodeEvent(entry.event))
        yield* sql.withTransaction(Effect.zipRight(
          sql`INSERT INTO parley_dead_letters (inbox_id, chat, event, error, attempts, failed_at)
            SELECT id, chat, ${json}, ${error}, attempts, ${now} FROM parley_inbox WHERE id = ${entry.id}`,
          sql`UPDATE parley_inbox SET state = 'dead' WHERE id = ${entry.id}`
        ))
      }),
    deadLetters: sql`SELECT inbox_id, chat, event, error, attempts, failed_at FROM parley_dead_letters ORDER BY id`
      .pipe(
        Effect.flatMap((rows) =>
          Effect.forEach(rows, (raw) =>
            Effect.gen(function*() {
              const row = yield* orDie(Schema.decodeUnknown(DeadRow)(raw))
              return {
                inboxId: row.inbox_id,
                chat: row.chat,
                event: yield* orDie(decodeEvent(row.event)),
                error: row.error,
                attempts: row.attempts,
                failedAt: new Date(row.failed_at)
              }
            }))
        )
      ),
    pendingCount: sql`SELECT COUNT(*) AS n FROM parley_inbox WHERE state = 'pending'`.pipe(
      Effect.map((rows) => Number(rows[0]?.n ?? 0))
    ),
    notify: Queue.offer(signal, undefined).pipe(Effect.asVoid),
    awaitWork: Queue.take(signal)
  }
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Inbox, never, SqlClient.SqlClient> = Layer.effect(Inbox, make)
