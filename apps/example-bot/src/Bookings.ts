/**
 * The clinic's bookings, in the same database as Parley's own tables (SQLite, or PostgreSQL).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Migrator from "effect/sql/Migrator"
import * as SqlClient from "effect/sql/SqlClient"

/** A booking as stored. */
export const Booking = Schema.Struct({
  ref: Schema.String,
  chat: Schema.String,
  name: Schema.String,
  date: Schema.String,
  slot: Schema.String
})
export type Booking = typeof Booking.Type

export class Bookings extends Context.Service<Bookings, {
  readonly save: (booking: Omit<Booking, "ref">) => Effect.Effect<string>
  readonly forChat: (chat: string) => Effect.Effect<ReadonlyArray<Booking>>
}>()("example-bot/Bookings") {}

const migrations = Migrator.fromRecord({
  "1_bookings": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`CREATE TABLE clinic_bookings (
      ref TEXT PRIMARY KEY,
      chat TEXT NOT NULL,
      name TEXT NOT NULL,
      date TEXT NOT NULL,
      slot TEXT NOT NULL,
      created_at BIGINT NOT NULL
    )`)
})

export const layer = Layer.effect(
  Bookings,
  Effect.gen(function*() {
    yield* Migrator.make({})({ loader: migrations, table: "clinic_migrations" })
    const sql = yield* SqlClient.SqlClient
    const decode = Schema.decodeUnknownEffect(Schema.Array(Booking))
    return {
      save: (booking) =>
        Effect.gen(function*() {
          const ref = `SC-${Math.random().toString(36).slice(2, 7).toUpperCase()}`
          yield* sql`INSERT INTO clinic_bookings (ref, chat, name, date, slot, created_at)
            VALUES (${ref}, ${booking.chat}, ${booking.name}, ${booking.date}, ${booking.slot}, ${Date.now()})`
          return ref
        }).pipe(Effect.orDie),
      forChat: (chat) =>
        sql`SELECT ref, chat, name, date, slot FROM clinic_bookings WHERE chat = ${chat} ORDER BY date, slot`.pipe(
          Effect.flatMap(decode),
          Effect.orDie
        )
    }
  })
)
