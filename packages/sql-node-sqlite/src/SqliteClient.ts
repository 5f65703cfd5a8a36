/**
 * An `@effect/sql` client over Node.js's built-in `node:sqlite` (Node 22.16+ and 24): the same
 * `SqlClient` interface as `@effect/sql-sqlite-node`, with no native addon to compile at install.
 *
 * Why not better-sqlite3: before version 13 it derives its statements from `node::ObjectWrap`, and
 * from Node 24.19 a statement finalised by a garbage collection that runs outside JavaScript (the
 * idle-time collector) aborts the process (`RemoveEnvironmentCleanupHook ... (env) != nullptr`).
 * `node:sqlite` is part of Node itself, so it is free of that and of per-Node-version builds.
 *
 * One connection per client, as SQLite has one writer: statements and transactions take turns on it.
 * Transactions begin `IMMEDIATE` (they take the write lock up front), so a second process on the
 * same file waits out the busy timeout instead of failing a lock upgrade half-way.
 *
 * @example
 * ```ts
 * import { SqliteClient } from "@parley/sql-node-sqlite"
 *
 * const Sql = SqliteClient.layer({ filename: "./data/bot.db" }) // Layer<SqlClient | SqliteClient>
 * ```
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as Client from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import * as Chunk from "effect/Chunk"
import * as Config from "effect/Config"
import type { ConfigError } from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { DatabaseSync, type StatementSync } from "node:sqlite"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@parley/sql-node-sqlite/SqliteClient")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * @since 0.1.0
 * @category models
 */
export interface SqliteClient extends Client.SqlClient {
  readonly [TypeId]: TypeId
  readonly config: SqliteClientConfig
  /** Not supported by SQLite. */
  readonly updateValues: never
}

/**
 * @since 0.1.0
 * @category tags
 */
export const SqliteClient = Context.GenericTag<SqliteClient>("@parley/sql-node-sqlite/SqliteClient")

/**
 * @since 0.1.0
 * @category models
 */
export interface SqliteClientConfig {
  /** The database file, or `":memory:"`. */
  readonly filename: string
  /** Opens the file read-only (default `false`). */
  readonly readonly?: boolean | undefined
  /** Prepared statements kept per connection, least recently used dropped first (default 200). */
  readonly prepareCacheSize?: number | undefined
  /** Keeps SQLite's rollback journal instead of switching the file to WAL (default `false`). */
  readonly disableWAL?: boolean | undefined
  /**
   * `PRAGMA synchronous` for the connection. Unset, SQLite's default applies (`FULL`: a commit is on
   * disk when it returns). `NORMAL` in WAL mode survives a process crash but not a power loss.
   */
  readonly synchronous?: "OFF" | "NORMAL" | "FULL" | "EXTRA" | undefined
  /** How long a statement waits for another process's lock before failing (default 5 seconds). */
  readonly busyTimeout?: Duration.DurationInput | undefined
  readonly spanAttributes?: Record<string, unknown> | undefined
  readonly transformResultNames?: ((str: string) => string) | undefined
  readonly transformQueryNames?: ((str: string) => string) | undefined
}

type Params = ReadonlyArray<unknown>
type Rows = ReadonlyArray<any>
type Transform = (<A extends object>(rows: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
type Bindable = null | number | bigint | string | Uint8Array

const failure = (what: string) => (cause: unknown) =>
  new SqlError({ cause, message: `${what}: ${cause instanceof Error ? cause.message : String(cause)}` })

const failedToExecute = failure("Failed to execute statement")

// SQLite has no boolean type; node:sqlite refuses to bind one, so bind it as SQLite stores it.
const bindable = (params: Params): Array<Bindable> =>
  params.map((value) => typeof value === "boolean" ? (value ? 1 : 0) : value as Bindable)

const streamChunk = 128

/**
 * Opens the database for the life of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: SqliteClientConfig
): Effect.Effect<SqliteClient, SqlError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const compiler = Statement.makeCompilerSqlite(options.transformQueryNames)
    const transformRows = options.transformResultNames
      ? Statement.defaultTransforms(options.transformResultNames).array
      : undefined

    const db = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          new DatabaseSync(options.filename, {
            readOnly: options.readonly ?? false,
            timeout: Duration.toMillis(Duration.decode(options.busyTimeout ?? "5 seconds"))
          }),
        catch: failure(`Failed to open ${options.filename}`)
      }),
      (db) => Effect.sync(() => db.close())
    )
    yield* Effect.try({
      try: () => {
        if (options.disableWAL !== true && options.readonly !== true) db.exec("PRAGMA journal_mode = WAL")
        if (options.synchronous !== undefined) db.exec(`PRAGMA synchronous = ${options.synchronous}`)
      },
      catch: failure(`Failed to set up ${options.filename}`)
    })

    // A small LRU of prepared statements: a Map keeps insertion order, a hit moves to the end.
    const capacity = Math.max(options.prepareCacheSize ?? 200, 1)
    const prepared = new Map<string, StatementSync>()
    const prepare = (sql: string): StatementSync => {
      const hit = prepared.get(sql)
      if (hit !== undefined) {
        prepared.delete(sql)
        prepared.set(sql, hit)
        return hit
      }
      const statement = db.prepare(sql)
      if (prepared.size >= capacity) prepared.delete(prepared.keys().next().value!)
      prepared.set(sql, statement)
      return statement
    }

    const run = (
      statement: () => StatementSync,
      params: Params,
      mode: "rows" | "raw" | "values"
    ): Effect.Effect<any, SqlError> =>
      Effect.withFiberRuntime((fiber) => {
        const safeIntegers = Context.get(fiber.currentContext, Client.SafeIntegers)
        let s: StatementSync | undefined
        try {
          s = statement()
          s.setReadBigInts(safeIntegers)
          if (mode === "raw") return Effect.succeed(s.run(...bindable(params)))
          if (mode === "values") s.setReturnArrays(true)
          return Effect.succeed(s.all(...bindable(params)))
        } catch (cause) {
          return Effect.fail(failedToExecute(cause))
        } finally {
          if (s !== undefined) {
            if (safeIntegers) s.setReadBigInts(false)
            if (mode === "values") s.setReturnArrays(false)
          }
        }
      })

    const connection: Connection = {
      execute(sql, params, transform) {
        const rows = run(() => prepare(sql), params, "rows")
        return transform ? Effect.map(rows, transform) : rows
      },
      executeRaw(sql, params) {
        return run(() => prepare(sql), params, "raw")
      },
      executeValues(sql, params) {
        return run(() => prepare(sql), params, "values")
      },
      executeUnprepared(sql, params, transform) {
        const rows: Effect.Effect<Rows, SqlError> = run(() => db.prepare(sql), params ?? [], "rows")
        return transform ? Effect.map(rows, transform) : rows
      },
      executeStream(sql, params, transform: Transform) {
        return Stream.unwrap(Effect.map(
          Effect.try({ try: () => db.prepare(sql).iterate(...bindable(params)), catch: failedToExecute }),
          (iterator) => {
            // Node 22's iterator starts over when pulled again after it finished: never pull it then.
            let finished = false
            return Stream.repeatEffectChunkOption(
              Effect.try({
                try: () => {
                  const rows: Array<any> = []
                  while (!finished && rows.length < streamChunk) {
                    const next = iterator.next()
                    if (next.done) finished = true
                    else rows.push(next.value)
                  }
                  return rows
                },
                catch: (cause) => Option.some(failedToExecute(cause))
              }).pipe(
                Effect.flatMap((rows) =>
                  rows.length === 0
                    ? Effect.fail(Option.none())
                    : Effect.succeed(Chunk.unsafeFromArray(transform ? transform(rows) : rows))
                )
              )
            )
          }
        ))
      }
    }

    const semaphore = yield* Effect.makeSemaphore(1)
    const acquirer = semaphore.withPermits(1)(Effect.succeed(connection))
    const transactionAcquirer = Effect.uninterruptibleMask((restore) =>
      Effect.as(
        Effect.zipRight(
          restore(semaphore.take(1)),
          Effect.tap(Effect.scope, (scope) => Scope.addFinalizer(scope, semaphore.release(1)))
        ),
        connection
      )
    )

    const client = yield* Client.make({
      acquirer,
      compiler,
      transactionAcquirer,
      beginTransaction: options.readonly === true ? "BEGIN" : "BEGIN IMMEDIATE",
      spanAttributes: [
        ...(options.spanAttributes ? Object.entries(options.spanAttributes) : []),
        ["db.system.name", "sqlite"]
      ],
      transformRows
    })
    return Object.assign(client as SqliteClient, { [TypeId]: TypeId as TypeId, config: options })
  })

const toContext = (client: SqliteClient) =>
  Context.make(SqliteClient, client).pipe(Context.add(Client.SqlClient, client))

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  config: SqliteClientConfig
): Layer.Layer<SqliteClient | Client.SqlClient, SqlError> =>
  Layer.scopedContext(Effect.map(make(config), toContext)).pipe(Layer.provide(Reactivity.layer))

/**
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<SqliteClientConfig>
): Layer.Layer<SqliteClient | Client.SqlClient, ConfigError | SqlError> =>
  Layer.scopedContext(Effect.map(Effect.flatMap(Config.unwrap(config), make), toContext)).pipe(
    Layer.provide(Reactivity.layer)
  )
