/**
 * The durable inbox between the webhook server and the conversation engine. An event is accepted
 * (and the webhook answered 2xx) only once it is written here; its dedupe mark is the same row, so a
 * crash cannot both drop an event and remember having seen it. Enqueues from many requests share
 * one transaction (group commit), and each request is answered once its own events are committed.
 * The engine takes events per chat in the order they arrived, handed over in memory as they commit,
 * and marks each done (clearing its payload) in the commit of what handling it changed, or parks it
 * in the dead-letter table with the error.
 *
 * Dead letters stay until a person acts on them: `deadLetters`, `deadLetter(id)`, `replay(ids)` (the
 * event goes back into the inbox as a new pending event, which a running engine takes up by its poll)
 * and `drop(ids)`. These are plain `@effect/sql` statements, safe to run from another process (the
 * `parley` CLI) while a bot runs on the same database.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Conversation from "./Conversation.js"
import type * as InboundEvent from "./InboundEvent.js"
import * as ChatKey from "./internal/engine/chatKey.js"
import * as Events from "./internal/engine/events.js"
import * as Store from "./internal/engine/store.js"

/**
 * What a durable timer does when it fires (defined with the dialogs that set timers).
 *
 * @since 0.1.0
 * @category models
 */
export const TimerPayload: typeof Conversation.TimerPayload = Conversation.TimerPayload

/**
 * @since 0.1.0
 * @category models
 */
export type TimerPayload = Conversation.TimerPayload

/**
 * A durable timer came due; it is handled in its chat's order like any inbound event.
 *
 * @since 0.1.0
 * @category models
 */
export const TimerFired: typeof Events.TimerFired = Events.TimerFired

/**
 * @since 0.1.0
 * @category models
 */
export type TimerFired = Events.TimerFired

/**
 * Anything the engine processes.
 *
 * @since 0.1.0
 * @category models
 */
export const Event: typeof Events.Event = Events.Event

/**
 * @since 0.1.0
 * @category models
 */
export type Event = Events.Event

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
  /** The dead letter's own id, as `deadLetter`, `replay` and `drop` take it. */
  readonly id: number
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
  /**
   * Stores events not seen before (by `InboundEvent.dedupeKey`), each with its dedupe mark in the same
   * statement; resolves once they are committed (batched with other writers, one transaction each).
   */
  readonly enqueue: (
    events: ReadonlyArray<InboundEvent.InboundEvent>
  ) => Effect.Effect<{ readonly accepted: number; readonly duplicates: number }, SqlError>
  /** Every parked event, oldest first. */
  readonly deadLetters: Effect.Effect<ReadonlyArray<DeadLetter>, SqlError>
  /** One parked event. */
  readonly deadLetter: (id: number) => Effect.Effect<Option.Option<DeadLetter>, SqlError>
  /**
   * Moves the parked events back into the inbox, in their order, as new pending events (with no dedupe
   * key: a provider's redelivery is still dropped by the original's mark), each taking its chat's next
   * place in the chat's order, and removes the dead letters, in one transaction. A running engine takes
   * them up by its poll (at once, in the same process). Returns the ids replayed (an id that is not parked
   * is left out).
   */
  readonly replay: (ids: ReadonlyArray<number>) => Effect.Effect<ReadonlyArray<number>, SqlError>
  /** Deletes the parked events; returns the ids dropped. */
  readonly drop: (ids: ReadonlyArray<number>) => Effect.Effect<ReadonlyArray<number>, SqlError>
  /** Events not yet handled. */
  readonly pendingCount: Effect.Effect<number, SqlError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Inbox extends Context.Service<Inbox, Service>()("@parley/core/Inbox") {}

/**
 * The engine's store, which the inbox shares its group commit with (its service is internal to Parley):
 * {@link layer} provides it beside the `Inbox` (as `Bot.layerStore` does), and `Bot.layer` needs it, so a
 * hand-written `Inbox` does not run an engine.
 *
 * @since 0.2.0
 * @category tags
 */
export const EngineStore: typeof Store.EngineStore = Store.EngineStore

/**
 * @since 0.2.0
 * @category tags
 */
export type EngineStore = Store.EngineStore

/**
 * The chat an event is ordered under: its chat, or for a delivery status whose chat the provider did not
 * say, a key of its own (`message:<id>`), which belongs to no chat.
 *
 * @since 0.1.0
 * @category accessors
 */
export const chatKey: (event: Event) => string = ChatKey.of

const toDeadLetter = (row: Record<string, unknown>): DeadLetter => ({
  id: Number(row.id),
  inboxId: Number(row.inbox_id),
  chat: String(row.chat),
  event: Events.decodeEvent(String(row.event)),
  error: String(row.error),
  attempts: Number(row.attempts),
  failedAt: new Date(Number(row.failed_at))
})

const idsOf = (rows: ReadonlyArray<Record<string, unknown>>): ReadonlyArray<number> =>
  rows.map((row) => Number(row.id)).sort((a, b) => a - b)

/**
 * The inbox over the `SqlClient` in context (tables from `Migrations`), writing through the engine's store
 * (its group commit).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Service, never, SqlClient.SqlClient | EngineStore> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const store = yield* EngineStore
  const service: Service = {
    enqueue: (events) => Effect.flatMap(Clock.currentTimeMillis, (now) => store.enqueue(events, now)),
    deadLetters: Effect.map(
      sql`SELECT id, inbox_id, chat, event, error, attempts, failed_at FROM parley_dead_letters ORDER BY id`,
      (found) => found.map(toDeadLetter)
    ),
    deadLetter: Effect.fn("Inbox.deadLetter")(function*(id: number) {
      const found = yield* sql`SELECT id, inbox_id, chat, event, error, attempts, failed_at FROM parley_dead_letters
        WHERE id = ${id}`
      return Option.map(Option.fromUndefinedOr(found[0]), toDeadLetter)
    }),
    replay: Effect.fn("Inbox.replay")(function*(ids: ReadonlyArray<number>) {
      if (ids.length === 0) return []
      return yield* store.replay(ids, yield* Clock.currentTimeMillis)
    }),
    drop: Effect.fn("Inbox.drop")(function*(ids: ReadonlyArray<number>) {
      if (ids.length === 0) return []
      return idsOf(yield* sql`DELETE FROM parley_dead_letters WHERE ${sql.in("id", ids)} RETURNING id`)
    }),
    pendingCount: sql`SELECT COUNT(*) AS n FROM parley_inbox WHERE state = 'pending'`.pipe(
      Effect.map((found) => Number(found[0]?.n ?? 0))
    )
  }
  return service
})

/**
 * The inbox and the engine's store it writes through.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Inbox | EngineStore, never, SqlClient.SqlClient> = Layer.effect(Inbox, make).pipe(
  Layer.provideMerge(Store.layer)
)
