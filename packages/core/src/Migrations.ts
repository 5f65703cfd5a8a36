/**
 * The tables Parley keeps in the app's SQL database (SQLite by default, PostgreSQL for several
 * instances), created by `effect/sql`'s migrator under the `parley_migrations` table.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Migrator from "effect/sql/Migrator"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"

const initial = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const serial = sql.onDialectOrElse({
    pg: () => sql.literal("BIGSERIAL PRIMARY KEY"),
    orElse: () => sql.literal("INTEGER PRIMARY KEY AUTOINCREMENT")
  })
  // The durable inbox: every accepted webhook event (and fired timer), processed in id order per chat.
  yield* sql`CREATE TABLE parley_inbox (
    id ${serial},
    chat TEXT NOT NULL,
    event TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0
  )`
  yield* sql`CREATE INDEX parley_inbox_pending ON parley_inbox (state, chat, id)`
  // Dedupe marks, written in the same transaction as the inbox row.
  yield* sql`CREATE TABLE parley_inbox_seen (key TEXT PRIMARY KEY, seen_at BIGINT NOT NULL)`
  yield* sql`CREATE TABLE parley_dead_letters (
    id ${serial},
    inbox_id BIGINT NOT NULL,
    chat TEXT NOT NULL,
    event TEXT NOT NULL,
    error TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    failed_at BIGINT NOT NULL
  )`
  // One row per chat: its provider, the 24 h window, the open dialog, typed state, and the lease.
  yield* sql`CREATE TABLE parley_conversations (
    chat TEXT PRIMARY KEY,
    provider TEXT,
    last_inbound_at BIGINT,
    dialog TEXT,
    data TEXT NOT NULL DEFAULT '{}',
    lease_owner TEXT,
    lease_until BIGINT,
    updated_at BIGINT NOT NULL
  )`
  yield* sql`CREATE TABLE parley_timers (
    id ${serial},
    chat TEXT NOT NULL,
    fire_at BIGINT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
  )`
  yield* sql`CREATE INDEX parley_timers_due ON parley_timers (state, fire_at)`
  // Messages we sent, updated by status webhooks.
  yield* sql`CREATE TABLE parley_messages (
    message_id TEXT PRIMARY KEY,
    chat TEXT NOT NULL,
    provider TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    sent_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  )`
  yield* sql`CREATE TABLE parley_idempotency (
    key TEXT PRIMARY KEY,
    receipt TEXT NOT NULL,
    expires_at BIGINT NOT NULL
  )`
})

// The engine of one read and one commit per event:
// - the inbox row carries its dedupe key, so accepting an event is one statement; a handled event's row
//   keeps only its key (the payload is cleared) until retention prunes it; it also carries the trace of
//   the webhook that brought it, which the engine's span links to;
// - a fencing token on each chat's lease, checked by the commit, and each chat's event numbers;
// - timers keyed by the dialog step that set them, so a dialog schedules and cancels them without
//   reading ids back;
// - `parley_instances`: the engine's hold on a SQLite database, which serves one engine.
const engine = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE parley_inbox ADD COLUMN dedupe_key TEXT`
  yield* sql`CREATE UNIQUE INDEX parley_inbox_dedupe ON parley_inbox (dedupe_key)`
  yield* sql`ALTER TABLE parley_inbox ADD COLUMN trace TEXT`
  yield* sql`INSERT INTO parley_inbox (chat, event, received_at, state, dedupe_key)
    SELECT '', '', seen_at, 'done', key FROM parley_inbox_seen`
  yield* sql`DROP TABLE parley_inbox_seen`
  // What retention prunes by.
  yield* sql`CREATE INDEX parley_inbox_settled ON parley_inbox (state, received_at)`
  yield* sql`CREATE INDEX parley_messages_sent ON parley_messages (sent_at)`
  yield* sql`CREATE INDEX parley_idempotency_expiry ON parley_idempotency (expires_at)`
  yield* sql`ALTER TABLE parley_conversations ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0`
  // Per-chat order across instances (PostgreSQL): each accepted event takes the chat's next number under
  // the chat row's lock, so numbers follow commit order; the commit records the last one handled.
  yield* sql`ALTER TABLE parley_inbox ADD COLUMN seq BIGINT`
  yield* sql`UPDATE parley_inbox SET seq = id`
  yield* sql`ALTER TABLE parley_conversations ADD COLUMN inbox_seq BIGINT NOT NULL DEFAULT 0`
  yield* sql`ALTER TABLE parley_conversations ADD COLUMN handled_seq BIGINT NOT NULL DEFAULT 0`
  yield* sql`ALTER TABLE parley_timers ADD COLUMN timer_key TEXT`
  yield* sql`CREATE UNIQUE INDEX parley_timers_key ON parley_timers (timer_key)`
  yield* sql`CREATE TABLE parley_instances (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    token BIGINT NOT NULL,
    lease_until BIGINT NOT NULL
  )`
})

/**
 * Brings the database up to date. Safe to run at every start, and from several instances.
 *
 * @since 0.1.0
 * @category migrations
 */
export const run: Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  Migrator.MigrationError | SqlError,
  SqlClient.SqlClient
> = Migrator.make({})({
  loader: Migrator.fromRecord({ "1_parley_initial": initial, "2_parley_engine": engine }),
  table: "parley_migrations"
}).pipe(
  // Instances starting together: the migrator locks its table for the migrations themselves, but two
  // may race to create that table (both find it missing; PostgreSQL refuses the second `CREATE TABLE`,
  // and the loser may look again before the winner has committed it). The loser runs again, and finds
  // the work done or waits on the lock.
  Effect.retry(Schedule.recurs(3))
)

/**
 * Runs the migrations when the layer is built.
 *
 * Durability is set by the store, not here: on SQLite, `Bot.layerStore` runs the connection with
 * `synchronous = FULL` (the client, `@effect/sql-sqlite-node`, runs WAL and leaves `synchronous` as it
 * is), so an event acknowledged to a provider is on disk (the engine commits in groups, so this costs
 * one fsync per batch, not per event). `Bot.layerStoreWith({ synchronous: "NORMAL" })` trades that for
 * speed: a committed webhook then survives a process crash but not a power loss or kernel panic, though
 * the provider was told 200 and will not deliver it again.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<never, Migrator.MigrationError | SqlError, SqlClient.SqlClient> = Layer.effectDiscard(
  run
)
