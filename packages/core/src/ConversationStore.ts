/**
 * Where conversations live between events, over `@effect/sql` (SQLite by default, PostgreSQL for
 * several instances): each chat's open dialog (its journal), typed state, provider and 24 h window;
 * per-chat leases so only one instance handles a chat at a time; durable timers; the messages we sent
 * and their delivery statuses; and a durable `IdempotencyStore`.
 *
 * A dialog waiting for an answer is a row here, not a fiber.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Idempotency from "./Idempotency.js"
import * as InboundEvent from "./InboundEvent.js"
import * as Inbox from "./Inbox.js"
import { Receipt } from "./Receipt.js"

/**
 * One step of a dialog as it happened: what the code did (`kind`, and `key`, e.g. the prompt text),
 * whether it finished, its result, and which inbox event finished it.
 *
 * @since 0.1.0
 * @category models
 */
export const JournalEntry = Schema.Struct({
  kind: Schema.String,
  key: Schema.String,
  done: Schema.Boolean,
  value: Schema.optional(Schema.Unknown),
  by: Schema.optional(Schema.Number),
  timer: Schema.optional(Schema.Number)
})

/**
 * @since 0.1.0
 * @category models
 */
export type JournalEntry = typeof JournalEntry.Type

/**
 * An open dialog: the route that started it, the message that triggered it, and its journal.
 *
 * @since 0.1.0
 * @category models
 */
export const Dialog = Schema.Struct({
  id: Schema.String,
  route: Schema.String,
  trigger: Schema.Number,
  event: InboundEvent.MessageReceived,
  journal: Schema.Array(JournalEntry),
  startedAt: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export type Dialog = typeof Dialog.Type

/**
 * A chat's row.
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
export interface SentMessage {
  readonly messageId: string
  readonly chat: string
  readonly provider: string
  readonly status: string
  readonly error: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly load: (chat: string) => Effect.Effect<Chat, SqlError>
  readonly touchInbound: (chat: string, provider: string, at: number) => Effect.Effect<void, SqlError>
  readonly saveDialog: (chat: string, dialog: Option.Option<Dialog>) => Effect.Effect<void, SqlError>
  readonly saveData: (chat: string, data: Readonly<Record<string, unknown>>) => Effect.Effect<void, SqlError>
  /** Takes (or renews) the chat for `owner` until `ttl` from now, unless another owner holds it. */
  readonly acquireLease: (chat: string, owner: string, ttl: Duration.Duration) => Effect.Effect<boolean, SqlError>
  readonly releaseLease: (chat: string, owner: string) => Effect.Effect<void, SqlError>
  readonly scheduleTimer: (chat: string, fireAt: number, payload: Inbox.TimerPayload) => Effect.Effect<number, SqlError>
  readonly cancelTimer: (id: number) => Effect.Effect<void, SqlError>
  readonly dueTimers: (now: number, limit: number) => Effect.Effect<ReadonlyArray<Inbox.TimerFired>, SqlError>
  /** When the earliest pending timer fires, if any. */
  readonly nextTimerAt: Effect.Effect<Option.Option<number>, SqlError>
  readonly recordSent: (chat: string, receipt: Receipt) => Effect.Effect<void, SqlError>
  /** Moves a sent message's status on; the message, if we know it. */
  readonly updateStatus: (event: InboundEvent.StatusChanged) => Effect.Effect<Option.Option<SentMessage>, SqlError>
  readonly sentMessages: (chat: string) => Effect.Effect<ReadonlyArray<SentMessage>, SqlError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ConversationStore extends Context.Tag("@parley/core/ConversationStore")<ConversationStore, Service>() {}

const Int = Schema.Union(Schema.Number, Schema.NumberFromString)
const NullableInt = Schema.NullOr(Int)
const DialogJson = Schema.parseJson(Dialog)
const DataJson = Schema.parseJson(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
const ChatRow = Schema.Struct({
  chat: Schema.String,
  provider: Schema.NullOr(Schema.String),
  last_inbound_at: NullableInt,
  dialog: Schema.NullOr(Schema.String),
  data: Schema.String
})
const TimerRow = Schema.Struct({ id: Int, chat: Schema.String, fire_at: Int, payload: Schema.String })
const PayloadJson = Schema.parseJson(Inbox.TimerPayload)
const MessageRow = Schema.Struct({
  message_id: Schema.String,
  chat: Schema.String,
  provider: Schema.String,
  status: Schema.String,
  error: Schema.NullOr(Schema.String)
})
const ReceiptJson = Schema.parseJson(Receipt)
const IdRow = Schema.Struct({ id: Int })
const AtRow = Schema.Struct({ at: NullableInt })

const statusOrder: Record<string, number> = { accepted: 0, sent: 1, delivered: 2, read: 3, played: 4, failed: 5 }

/**
 * The store over the `SqlClient` in context (tables from `Migrations`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Service, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const decode = <A, I>(schema: Schema.Schema<A, I>) => (u: unknown) => Effect.orDie(Schema.decodeUnknown(schema)(u))
  const encode = <A, I>(schema: Schema.Schema<A, I>) => (a: A) => Effect.orDie(Schema.encode(schema)(a))

  const toMessage = (row: typeof MessageRow.Type): SentMessage => ({
    messageId: row.message_id,
    chat: row.chat,
    provider: row.provider,
    status: row.status,
    error: row.error ?? undefined
  })

  const service: Service = {
    load: (chat) =>
      Effect.gen(function*() {
        const rows = yield* sql`SELECT chat, provider, last_inbound_at, dialog, data FROM parley_conversations
          WHERE chat = ${chat}`
        if (rows.length === 0) {
          return { chat, provider: undefined, lastInboundAt: undefined, dialog: Option.none(), data: {} }
        }
        const row = yield* decode(ChatRow)(rows[0])
        return {
          chat,
          provider: row.provider ?? undefined,
          lastInboundAt: row.last_inbound_at ?? undefined,
          dialog: row.dialog === null ? Option.none() : Option.some(yield* decode(DialogJson)(row.dialog)),
          data: yield* decode(DataJson)(row.data)
        }
      }),
    // Each write is one upsert: the chat's row is created by whichever write comes first.
    touchInbound: (chat, provider, at) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        yield* sql`INSERT INTO parley_conversations (chat, provider, last_inbound_at, data, updated_at)
          VALUES (${chat}, ${provider}, ${at}, '{}', ${now})
          ON CONFLICT (chat) DO UPDATE SET provider = excluded.provider, last_inbound_at = excluded.last_inbound_at,
            updated_at = excluded.updated_at
          WHERE parley_conversations.last_inbound_at IS NULL OR parley_conversations.last_inbound_at <= ${at}`
      }),
    saveDialog: (chat, dialog) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const json = Option.isSome(dialog) ? yield* encode(DialogJson)(dialog.value) : null
        yield* sql`INSERT INTO parley_conversations (chat, dialog, data, updated_at) VALUES (${chat}, ${json}, '{}', ${now})
          ON CONFLICT (chat) DO UPDATE SET dialog = excluded.dialog, updated_at = excluded.updated_at`
      }),
    saveData: (chat, data) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const json = yield* encode(DataJson)(data)
        yield* sql`INSERT INTO parley_conversations (chat, data, updated_at) VALUES (${chat}, ${json}, ${now})
          ON CONFLICT (chat) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`
      }),
    acquireLease: (chat, owner, ttl) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const rows = yield* sql`INSERT INTO parley_conversations (chat, data, updated_at, lease_owner, lease_until)
          VALUES (${chat}, '{}', ${now}, ${owner}, ${now + Duration.toMillis(ttl)})
          ON CONFLICT (chat) DO UPDATE SET lease_owner = excluded.lease_owner, lease_until = excluded.lease_until
          WHERE parley_conversations.lease_owner IS NULL OR parley_conversations.lease_owner = ${owner}
            OR parley_conversations.lease_until < ${now}
          RETURNING chat`
        return rows.length > 0
      }),
    releaseLease: (chat, owner) =>
      Effect.asVoid(sql`UPDATE parley_conversations SET lease_owner = NULL, lease_until = NULL
        WHERE chat = ${chat} AND lease_owner = ${owner}`),
    scheduleTimer: (chat, fireAt, payload) =>
      Effect.gen(function*() {
        const json = yield* encode(PayloadJson)(payload)
        const rows = yield* sql`INSERT INTO parley_timers (chat, fire_at, payload) VALUES (${chat}, ${fireAt}, ${json})
          RETURNING id`
        return (yield* decode(IdRow)(rows[0])).id
      }),
    cancelTimer: (id) =>
      Effect.asVoid(sql`UPDATE parley_timers SET state = 'cancelled' WHERE id = ${id} AND state = 'pending'`),
    dueTimers: (now, limit) =>
      sql`SELECT id, chat, fire_at, payload FROM parley_timers WHERE state = 'pending' AND fire_at <= ${now}
        ORDER BY fire_at, id LIMIT ${limit}`.pipe(
        Effect.flatMap((rows) =>
          Effect.forEach(rows, (raw) =>
            Effect.gen(function*() {
              const row = yield* decode(TimerRow)(raw)
              return new Inbox.TimerFired({
                timerId: row.id,
                chat: row.chat,
                payload: yield* decode(PayloadJson)(row.payload),
                at: new Date(row.fire_at)
              })
            }))
        )
      ),
    nextTimerAt: sql`SELECT MIN(fire_at) AS at FROM parley_timers WHERE state = 'pending'`.pipe(
      Effect.flatMap((rows) => decode(AtRow)(rows[0])),
      Effect.map((row) => Option.fromNullable(row.at))
    ),
    recordSent: (chat, receipt) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        yield* sql`INSERT INTO parley_messages (message_id, chat, provider, status, sent_at, updated_at)
          VALUES (${receipt.messageId}, ${chat}, ${receipt.provider}, ${receipt.status}, ${receipt.at.getTime()}, ${now})
          ON CONFLICT (message_id) DO NOTHING`
      }),
    updateStatus: (event) =>
      Effect.gen(function*() {
        const rows = yield* sql`SELECT message_id, chat, provider, status, error FROM parley_messages
          WHERE message_id = ${event.messageId}`
        if (rows.length === 0) return Option.none()
        const current = toMessage(yield* decode(MessageRow)(rows[0]))
        if ((statusOrder[event.status] ?? 0) <= (statusOrder[current.status] ?? 0)) return Option.some(current)
        const now = yield* Clock.currentTimeMillis
        yield* sql`UPDATE parley_messages SET status = ${event.status}, error = ${
          event.error ?? null
        }, updated_at = ${now}
          WHERE message_id = ${event.messageId}`
        return Option.some({ ...current, status: event.status, error: event.error })
      }),
    sentMessages: (chat) =>
      sql`SELECT message_id, chat, provider, status, error FROM parley_messages WHERE chat = ${chat} ORDER BY sent_at`
        .pipe(
          Effect.flatMap((rows) => Effect.forEach(rows, (row) => Effect.map(decode(MessageRow)(row), toMessage)))
        )
  }
  return service
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
export const makeIdempotencyStore: Effect.Effect<Idempotency.IdempotencyStore["Type"], never, SqlClient.SqlClient> =
  Effect
    .gen(function*() {
      const sql = yield* SqlClient.SqlClient
      return Idempotency.IdempotencyStore.of({
        get: (key) =>
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const rows = yield* sql`SELECT receipt FROM parley_idempotency WHERE key = ${key} AND expires_at > ${now}`
            if (rows.length === 0) return Option.none()
            return Option.some(yield* Effect.orDie(Schema.decodeUnknown(ReceiptJson)(rows[0]!.receipt)))
          }).pipe(Effect.orDie),
        set: (key, receipt, ttl) =>
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const json = yield* Effect.orDie(Schema.encode(ReceiptJson)(receipt))
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
