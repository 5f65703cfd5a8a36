/**
 * The guarantees Parley's embedded store takes from `@effect/sql-sqlite-node` (over Node's built-in
 * `node:sqlite`), checked against the library as a user installs it: WAL, a busy timeout that makes a
 * second process (the `parley` CLI on a live bot's file) wait for the lock, `IMMEDIATE` transactions,
 * statements kept out of an open transaction, savepoints, exact integers past 2^53 with
 * `SqlClient.SafeIntegers` (and never rounded without), read-only mode, `SqlError`s that carry what
 * SQLite said, and a process that stays up under the Node 24 garbage-collection load that aborted
 * better-sqlite3 12.
 *
 * (The ports of `@parley/sql-node-sqlite`'s own tests. Left out, as Parley does not use them and this
 * client differs: streamed queries (`.stream` dies with "executeStream not implemented"), booleans as
 * parameters (bound as `1` on Node 24, refused on Node 22) and a `synchronous` option (the store sets
 * `PRAGMA synchronous` itself; `Store.test.ts` checks it).)
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as SqlClient from "effect/sql/SqlClient"
import { SqlError } from "effect/sql/SqlError"
import { execFile, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { fileURLToPath } from "node:url"

const fixtures = fileURLToPath(new URL("fixtures/", import.meta.url))

const tempFile = Effect.map(
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "parley-sqlite-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  ),
  (dir) => join(dir, "test.db")
)

const open = (filename: string, config: Partial<SqliteClient.SqliteClientConfig> = {}) =>
  SqliteClient.make({ filename, ...config }).pipe(Effect.provide(Reactivity.layer))

/** A client on a fresh file, for the life of the scope. */
const client = (config: Partial<SqliteClient.SqliteClientConfig> = {}) =>
  Effect.flatMap(tempFile, (filename) => open(filename, config))

/**
 * What SQLite said. The client's `SqlError` message is its own ("Failed to execute statement"); the
 * driver's error, with SQLite's words, is the cause of its reason (and `Cause.pretty` prints it).
 */
const said = (error: SqlError): string => {
  const cause = error.reason.cause
  return cause instanceof Error ? cause.message : String(cause)
}

/** Runs a fixture script with Node (this process's) and tsx: its exit code, signal and output. */
const fixture = (script: string, args: ReadonlyArray<string>, nodeOptions: ReadonlyArray<string> = []) =>
  Effect.callback<{ readonly code: number | null; readonly signal: string | null; readonly stdout: string }>(
    (resume) => {
      const child = execFile(
        process.execPath,
        [...nodeOptions, "--import", "tsx", join(fixtures, script), ...args],
        { cwd: fixtures, timeout: 60_000 },
        (error, stdout, stderr) => {
          if (stderr.length > 0) process.stderr.write(stderr)
          resume(Effect.succeed({
            code: error === null ? 0 : typeof error.code === "number" ? error.code : null,
            signal: error?.signal ?? null,
            stdout
          }))
        }
      )
      return Effect.sync(() => child.kill())
    }
  )

/**
 * Another process holding the file's write lock (`fixtures/sqlite-hold-lock.ts`), for the life of the
 * scope: `release` lets it commit `holdMillis` later; `exited` is its exit code.
 */
const lockHolder = (filename: string, holdMillis: number) =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, [
          "--import",
          "tsx",
          join(fixtures, "sqlite-hold-lock.ts"),
          filename,
          String(holdMillis)
        ], {
          cwd: fixtures,
          stdio: ["pipe", "pipe", "inherit"]
        })
      ),
      (child) => Effect.sync(() => child.kill())
    )
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve))
    yield* Effect.callback<void, Error>((resume) => {
      child.stdout.once("data", () => resume(Effect.void))
      void exited.then((code) => resume(Effect.fail(new Error(`the lock holder exited (${code}) before locking`))))
    })
    return {
      release: Effect.sync(() => child.stdin.write("release\n")),
      exited: Effect.promise(() => exited)
    }
  })

describe("SqliteClient (@effect/sql-sqlite-node)", () => {
  it.effect("binds parameters and reads every SQLite type back", () =>
    Effect.gen(function*() {
      const sql = yield* client()
      yield* sql`CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n TEXT)`
      yield* sql`INSERT INTO t ${sql.insert({ i: 42, r: 1.5, s: "héllo", b: new Uint8Array([1, 2, 3]), n: null })}`
      const rows = yield* sql`SELECT * FROM t WHERE s = ${"héllo"}`
      expect(rows).toEqual([{ i: 42, r: 1.5, s: "héllo", b: new Uint8Array([1, 2, 3]), n: null }])
      expect(yield* sql`SELECT * FROM t WHERE s = ${"nobody"}`).toEqual([])
    }))

  it.effect("reads integers past 2^53 exactly with safe integers, and refuses to round them without", () =>
    Effect.gen(function*() {
      const sql = yield* client()
      yield* sql`CREATE TABLE t (v INTEGER)`
      yield* sql`INSERT INTO t VALUES (${2n ** 60n}), (7)`
      const read = (v: bigint) => sql`SELECT v FROM t WHERE v = ${v}`
      expect(yield* Effect.provideService(read(2n ** 60n), SqlClient.SafeIntegers, true)).toEqual([{ v: 2n ** 60n }])
      // the same cached statement reads plain numbers again afterwards
      expect(yield* read(7n)).toEqual([{ v: 7 }])
      const lossy = yield* Effect.flip(read(2n ** 60n))
      expect(lossy).toBeInstanceOf(SqlError)
      expect(said(lossy)).toContain("too large")
    }))

  it.effect("runs raw and values queries", () =>
    Effect.gen(function*() {
      const sql = yield* client()
      yield* sql`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`
      const raw = yield* sql`INSERT INTO t (v) VALUES (${"a"})`.raw
      expect(raw).toMatchObject({ changes: 1, lastInsertRowid: 1 })
      yield* sql`INSERT INTO t (v) VALUES ('b'), ('c')`
      expect(yield* sql`SELECT id, v FROM t ORDER BY id`.values).toEqual([[1, "a"], [2, "b"], [3, "c"]])
      expect(yield* sql`SELECT id FROM t ORDER BY id`).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }])
      // the statement cached for `values` gives rows again afterwards
      const rows = yield* sql`SELECT id, v FROM t ORDER BY id`
      expect(rows).toEqual([{ id: 1, v: "a" }, { id: 2, v: "b" }, { id: 3, v: "c" }])
    }))

  it.effect("commits a transaction, rolls back a failed one, and a failed savepoint alone", () =>
    Effect.gen(function*() {
      const sql = yield* client()
      yield* sql`CREATE TABLE t (v TEXT)`
      yield* sql.withTransaction(sql`INSERT INTO t VALUES ('committed')`)
      const failed = yield* Effect.exit(sql.withTransaction(
        Effect.andThen(sql`INSERT INTO t VALUES ('rolled back')`, Effect.fail("boom"))
      ))
      expect(Exit.isFailure(failed)).toBe(true)
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO t VALUES ('outer')`
        yield* Effect.ignore(sql.withTransaction(
          Effect.andThen(sql`INSERT INTO t VALUES ('inner')`, Effect.fail("inner boom"))
        ))
      }))
      expect(yield* sql`SELECT v FROM t ORDER BY rowid`).toEqual([{ v: "committed" }, { v: "outer" }])
    }))

  // A statement of another fiber waits for the connection while a transaction has it, and so sees
  // the transaction's end, never its middle. The engine's own transactions run on `sql.reserve`.
  describe("keeps other statements out of an open transaction", () => {
    const excluded = (
      transaction: (
        sql: SqlClient.SqlClient,
        steps: { readonly write: string; readonly clear: string; readonly midway: Effect.Effect<void> }
      ) => Effect.Effect<void, SqlError>
    ) =>
      Effect.gen(function*() {
        const sql = yield* client()
        yield* sql`CREATE TABLE t (v INTEGER)`
        // With no transaction open, a statement forked now has run once the fiber yields.
        const free = yield* Effect.forkChild(sql`SELECT COUNT(*) AS n FROM t`)
        yield* Effect.yieldNow
        expect(free.pollUnsafe()).toEqual(Exit.succeed([{ n: 0 }]))
        const order: Array<string> = []
        const wrote = yield* Deferred.make<void>()
        const finish = yield* Deferred.make<void>()
        const tx = yield* Effect.forkChild(
          transaction(sql, {
            write: "INSERT INTO t VALUES (1)",
            clear: "DELETE FROM t",
            midway: Effect.sync(() => order.push("tx wrote")).pipe(
              Effect.andThen(Deferred.succeed(wrote, undefined)),
              Effect.andThen(Deferred.await(finish))
            )
          }).pipe(Effect.andThen(Effect.sync(() => order.push("tx cleared"))))
        )
        yield* Deferred.await(wrote)
        // The transaction is parked midway: a statement free to run would have run by the time this
        // fiber yields (as above), and seen its write.
        const reader = yield* Effect.forkChild(
          Effect.tap(sql`SELECT COUNT(*) AS n FROM t`, () => Effect.sync(() => order.push("reader")))
        )
        yield* Effect.yieldNow
        expect(reader.pollUnsafe()).toBeUndefined()
        yield* Deferred.succeed(finish, undefined)
        yield* Fiber.join(tx)
        const seen = yield* Fiber.join(reader)
        expect(order).toEqual(["tx wrote", "tx cleared", "reader"])
        expect(seen).toEqual([{ n: 0 }])
      })

    it.effect("of withTransaction", () =>
      excluded((sql, steps) =>
        sql.withTransaction(Effect.gen(function*() {
          yield* sql.unsafe(steps.write)
          yield* steps.midway
          yield* sql.unsafe(steps.clear)
        }))
      ))

    it.effect("of a reserved connection (the engine's group commit)", () =>
      excluded((sql, steps) =>
        Effect.scoped(Effect.gen(function*() {
          const conn = yield* sql.reserve
          yield* conn.executeUnprepared("BEGIN IMMEDIATE", [], undefined)
          yield* conn.execute(steps.write, [], undefined)
          yield* steps.midway
          yield* conn.execute(steps.clear, [], undefined)
          yield* conn.executeUnprepared("COMMIT", [], undefined)
        }))
      ))
  })

  it.effect("begins transactions IMMEDIATE: a transaction holds the write lock from its start, even when it only reads", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      const sql = yield* open(filename)
      const other = yield* open(filename, { busyTimeout: 0 })
      yield* sql`CREATE TABLE t (v TEXT)`
      // (A deferred BEGIN would only take a read snapshot here, and in WAL the other write would go through.)
      const locked = yield* sql.withTransaction(
        Effect.andThen(sql`SELECT COUNT(*) AS n FROM t`, Effect.flip(other`INSERT INTO t VALUES ('other')`))
      )
      expect(locked).toBeInstanceOf(SqlError)
      expect(locked.reason._tag).toBe("LockTimeoutError")
      expect(said(locked)).toBe("database is locked")
      yield* other`INSERT INTO t VALUES ('other')`
      expect(yield* sql`SELECT v FROM t`).toEqual([{ v: "other" }])
    }))

  it.effect("fails with a SqlError that carries what SQLite said", () =>
    Effect.gen(function*() {
      const sql = yield* client()
      yield* sql`CREATE TABLE t (k TEXT PRIMARY KEY)`
      yield* sql`INSERT INTO t VALUES ('a')`
      const duplicate = yield* Effect.flip(sql`INSERT INTO t VALUES ('a')`)
      expect(duplicate).toBeInstanceOf(SqlError)
      expect(duplicate.reason._tag).toBe("ConstraintError")
      expect(said(duplicate)).toContain("UNIQUE constraint failed: t.k")
      // The error's own message is the client's, not SQLite's (the old client's said both); a
      // logged failure shows SQLite's words as its cause.
      expect(duplicate.message).toBe("Failed to execute statement")
      expect(Cause.pretty(Cause.fail(duplicate))).toContain("UNIQUE constraint failed: t.k")
      const syntax = yield* Effect.flip(sql.unsafe("SELEC 1"))
      expect(syntax).toBeInstanceOf(SqlError)
      expect(said(syntax)).toContain("syntax error")
      expect(syntax.message).toBe("Failed to prepare statement")
      // the client is still usable
      expect(yield* sql`SELECT COUNT(*) AS n FROM t`).toEqual([{ n: 1 }])
    }))

  it.effect("keeps working past its prepared-statement cache", () =>
    Effect.gen(function*() {
      const sql = yield* client({ prepareCacheSize: 2 })
      yield* sql`CREATE TABLE t (v INTEGER)`
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 5; i++) yield* sql.unsafe(`INSERT INTO t VALUES (?) -- statement ${i}`, [i])
      }
      expect(yield* sql`SELECT SUM(v) AS s, COUNT(*) AS n FROM t`).toEqual([{ s: 30, n: 15 }])
    }))

  it.effect("opens files in WAL mode unless told not to", () =>
    Effect.gen(function*() {
      const wal = yield* client()
      expect(yield* wal`PRAGMA journal_mode`).toEqual([{ journal_mode: "wal" }])
      const rollback = yield* client({ disableWAL: true })
      expect(yield* rollback`PRAGMA journal_mode`).toEqual([{ journal_mode: "delete" }])
    }))

  it.effect("refuses writes when read-only", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      const writer = yield* open(filename)
      yield* writer`CREATE TABLE t (v INTEGER)`
      yield* writer`INSERT INTO t VALUES (1)`
      const reader = yield* open(filename, { readonly: true })
      expect(yield* reader`SELECT v FROM t`).toEqual([{ v: 1 }])
      const error = yield* Effect.flip(reader`INSERT INTO t VALUES (2)`)
      expect(error).toBeInstanceOf(SqlError)
      expect(said(error)).toContain("readonly")
      expect(yield* writer`SELECT v FROM t`).toEqual([{ v: 1 }])
    }))

  it.effect("fails to open a path that cannot exist with a SqlError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(open("/nonexistent-dir/parley/test.db"))
      expect(error).toBeInstanceOf(SqlError)
      expect(error.reason._tag).toBe("ConnectionError")
      expect(said(error)).toBe("unable to open database file")
      // (The old client's message named the file; this one's does not: the caller names it.)
      expect(error.message).toBe("Failed to open database")
    }))

  // Another process holds the write lock, as a running bot does when `parley` opens its file: opened
  // then, a client with the default busy timeout (as the CLI's) reads, and its write waits until the
  // lock is let go; without a busy timeout the write fails at once with "database is locked".
  it.live("waits for another process's lock up to the busy timeout (5 s by default)", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      const setup = yield* open(filename)
      yield* setup`CREATE TABLE t (v TEXT)`
      const other = yield* lockHolder(filename, 1000)
      const patient = yield* open(filename)
      const impatient = yield* open(filename, { busyTimeout: 0 })
      expect(yield* patient`PRAGMA busy_timeout`).toEqual([{ timeout: 5000 }])

      const locked = yield* Effect.flip(impatient`INSERT INTO t VALUES ('impatient')`)
      expect(locked.reason._tag).toBe("LockTimeoutError")
      expect(said(locked)).toBe("database is locked")
      expect(yield* patient`SELECT COUNT(*) AS n FROM t`).toEqual([{ n: 0 }])

      yield* other.release
      const [waited] = yield* Effect.timed(patient`INSERT INTO t VALUES ('patient')`)
      expect(Duration.toMillis(waited)).toBeGreaterThan(500)
      expect(yield* patient`SELECT v FROM t ORDER BY rowid`).toEqual([{ v: "other process" }, { v: "patient" }])
      expect(yield* other.exited).toBe(0)
    }), 30_000)

  it.effect("is the SqlClient of its layer", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const sqlite = yield* SqliteClient.SqliteClient
      expect(sql).toBe(sqlite)
      expect(sqlite.config.filename).toBe(":memory:")
      expect(yield* sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
    }).pipe(Effect.provide(SqliteClient.layer({ filename: ":memory:" }))))
})

/**
 * Regression test for the Node 24 abort: better-sqlite3 12 on Node 24.19+ aborts the process
 * (`RemoveEnvironmentCleanupHook ... (env) != nullptr`) within a second or two of this load (10 runs
 * of 10 aborted with it on Node 24.21), when a statement is finalised by a collection outside
 * JavaScript. The store must keep running.
 */
describe("SqliteClient under forced garbage collection", () => {
  it.live(
    "a process writing steadily for 5 s and 5,000 writes stays alive and keeps every write",
    () =>
      Effect.gen(function*() {
        const filename = yield* tempFile
        const child = yield* fixture("sqlite-steady-writes.ts", [filename, "5000", "5000"], ["--expose-gc"])
        expect({ code: child.code, signal: child.signal }).toEqual({ code: 0, signal: null })
        const { writes } = JSON.parse(child.stdout.trim().split("\n").at(-1)!)
        expect(writes).toBeGreaterThanOrEqual(5_000)
        const db = new DatabaseSync(filename)
        const [row] = db.prepare("SELECT COUNT(*) AS n FROM writes").all()
        db.close()
        expect(row).toEqual({ n: Math.min(writes, 1000) })
      }),
    60_000
  )
})
