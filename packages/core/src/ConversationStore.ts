/**
 * Where conversations live between events, over `effect/sql` (SQLite by default, PostgreSQL for
 * several instances): each chat's open dialog (its journal), typed state, provider and 24 h window,
 * and the messages we sent with their delivery statuses. The engine writes them (one commit per
 * event); this module reads them for operations tooling, and gives a durable `IdempotencyStore`.
 *
 * A dialog waiting for an answer is a row here, not a fiber.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Conversation from "./Conversation.js"
import * as Idempotency from "./Idempotency.js"
import * as rows from "./internal/engine/rows.js"
import { Receipt } from "./Receipt.js"

/**
 * One step of a dialog as it happened: what the code did (`kind`, and `key`, e.g. the prompt text),
 * whether it finished, its result, which inbox event finished it, and the timer it set.
 *
 * @since 0.1.0
 * @category models
 */
export const JournalEntry: typeof rows.JournalEntry = rows.JournalEntry

/**
 * @since 0.1.0
 * @category models
 */
export type JournalEntry = rows.JournalEntry

/**
 * An open dialog: the route that started it, the message that triggered it, and its journal.
 *
 * @since 0.1.0
 * @category models
 */
export const Dialog: typeof rows.Dialog = rows.Dialog

/**
 * @since 0.1.0
 * @category models
 */
export type Dialog = rows.Dialog

/**
 * A chat as the engine keeps it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Chat {
  readonly chat: string
  /** The provider the chat last wrote in through. */
  readonly provider: string | undefined
  /** When the user last wrote (epoch millis): the 24 h window runs from here. */
  readonly lastInboundAt: number | undefined
  readonly dialog: Option.Option<Dialog>
  readonly data: Readonly<Record<string, unknown>>
}

/**
 * A message we sent, as its status webhooks left it.
 *
 * @since 0.1.0
 * @category models
 */
export type SentMessage = rows.SentMessage

/**
 * A message we sent, with when it was sent and when its status last moved.
 *
 * @since 0.1.0
 * @category models
 */
export interface MessageRecord extends SentMessage {
  readonly sentAt: Date
  readonly updatedAt: Date
}

/**
 * A durable timer still to fire in a chat: a dialog's wake-up (a `sleep`, an `ask`'s timeout) or a
 * reminder.
 *
 * @since 0.1.0
 * @category models
 */
export interface PendingTimer {
  readonly id: number
  readonly fireAt: Date
  readonly payload: Conversation.TimerPayload
}

/**
 * What operations tooling reads about conversations. The engine writes them itself (one commit per
 * event); nothing here changes a chat.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** A chat's state (empty when the chat never wrote). */
  readonly load: (chat: string) => Effect.Effect<Chat, SqlError>
  /** The messages sent to a chat, oldest first, with their latest delivery status. */
  readonly sentMessages: (chat: string) => Effect.Effect<ReadonlyArray<SentMessage>, SqlError>
  /** The last `limit` messages sent to a chat, newest first. */
  readonly recentMessages: (chat: string, limit: number) => Effect.Effect<ReadonlyArray<MessageRecord>, SqlError>
  /** The chat's timers still to fire, soonest first. */
  readonly pendingTimers: (chat: string) => Effect.Effect<ReadonlyArray<PendingTimer>, SqlError>
  /** When the next timer of any chat fires. */
  readonly nextTimer: Effect.Effect<Option.Option<Date>, SqlError>
  /** How many chats have a dialog open (waiting for an answer or a timer). */
  readonly openDialogs: Effect.Effect<number, SqlError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ConversationStore
  extends Context.Service<ConversationStore, Service>()("@parley/core/ConversationStore")
{}

const ReceiptJson = Schema.fromJsonString(Receipt)
const decodeReceiptJson = Schema.decodeUnknownEffect(ReceiptJson)
const encodeReceiptJson = Schema.encodeEffect(ReceiptJson)
const decodeTimerPayload = Schema.decodeUnknownSync(Schema.fromJsonString(Conversation.TimerPayload))

/**
 * The store over the `SqlClient` in context (tables from `Migrations`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Service, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return {
    load: (chat) =>
      Effect.gen(function*() {
        const found = yield* sql`SELECT provider, last_inbound_at, dialog, data FROM parley_conversations
          WHERE chat = ${chat}`
        if (found.length === 0) {
          return { chat, provider: undefined, lastInboundAt: undefined, dialog: Option.none(), data: {} }
        }
        const row = found[0]!
        return {
          chat,
          provider: typeof row.provider === "string" ? row.provider : undefined,
          lastInboundAt: rows.optionalInt(row.last_inbound_at),
          dialog: typeof row.dialog === "string" ? Option.some(rows.decodeDialog(row.dialog)) : Option.none(),
          data: JSON.parse(String(row.data))
        }
      }),
    sentMessages: (chat) =>
      sql`SELECT message_id, chat, provider, status, error FROM parley_messages WHERE chat = ${chat} ORDER BY sent_at`
        .pipe(Effect.map((found) => found.map(rows.toSentMessage))),
    recentMessages: Effect.fn("ConversationStore.recentMessages")(function*(chat: string, limit: number) {
      const found = yield* sql`SELECT message_id, chat, provider, status, error, sent_at, updated_at
        FROM parley_messages WHERE chat = ${chat} ORDER BY sent_at DESC, message_id DESC LIMIT ${limit}`
      return found.map(({ sent_at, updated_at, ...row }) => ({
        ...rows.toSentMessage(row),
        sentAt: new Date(rows.int(sent_at)),
        updatedAt: new Date(rows.int(updated_at))
      }))
    }),
    pendingTimers: Effect.fn("ConversationStore.pendingTimers")(function*(chat: string) {
      const found = yield* sql`SELECT id, fire_at, payload FROM parley_timers
        WHERE chat = ${chat} AND state = 'pending' ORDER BY fire_at, id`
      return found.map((row) => ({
        id: rows.int(row.id),
        fireAt: new Date(rows.int(row.fire_at)),
        payload: decodeTimerPayload(row.payload)
      }))
    }),
    nextTimer: Effect.map(
      sql`SELECT MIN(fire_at) AS at FROM parley_timers WHERE state = 'pending'`,
      (found) => Option.map(Option.fromNullishOr(rows.optionalInt(found[0]?.at)), (at) => new Date(at))
    ),
    openDialogs: Effect.map(
      sql`SELECT COUNT(*) AS n FROM parley_conversations WHERE dialog IS NOT NULL`,
      (found) => rows.int(found[0]?.n ?? 0)
    )
  }
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<ConversationStore, never, SqlClient.SqlClient> = Layer.effect(ConversationStore, make)

/**
 * A durable `IdempotencyStore` in the same database, so receipts survive a restart.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeIdempotencyStore: Effect.Effect<Idempotency.IdempotencyStore["Service"], never, SqlClient.SqlClient> =
  Effect
    .gen(function*() {
      const sql = yield* SqlClient.SqlClient
      return Idempotency.IdempotencyStore.of({
        get: (key) =>
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const rows = yield* sql`SELECT receipt FROM parley_idempotency WHERE key = ${key} AND expires_at > ${now}`
            if (rows.length === 0) return Option.none()
            return Option.some(yield* Effect.orDie(decodeReceiptJson(rows[0]!.receipt)))
          }).pipe(Effect.orDie),
        set: (key, receipt, ttl) =>
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const json = yield* Effect.orDie(encodeReceiptJson(receipt))
            const expires = now + Duration.toMillis(ttl)
            yield* sql`INSERT INTO parley_idempotency (key, receipt, expires_at) VALUES (${key}, ${json}, ${expires})
            ON CONFLICT (key) DO UPDATE SET receipt = ${json}, expires_at = ${expires}`
          }).pipe(Effect.orDie)
      })
    })

/**
 * The durable `IdempotencyStore` as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerIdempotencyStore: Layer.Layer<Idempotency.IdempotencyStore, never, SqlClient.SqlClient> = Layer
  .effect(
    Idempotency.IdempotencyStore,
    makeIdempotencyStore
  )
