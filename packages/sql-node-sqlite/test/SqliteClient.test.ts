import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { SqliteClient } from "../src/index.js"

const tempFile = Effect.map(
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "parley-sqlite-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  ),
  (dir) => join(dir, "test.db")
)

const client = (config: Partial<SqliteClient.SqliteClientConfig> = {}) =>
  Effect.flatMap(
    tempFile,
    (filename) => SqliteClient.make({ filename, ...config }).pipe(Effect.provide(Reactivity.layer))
  )

describe("SqliteClient", () => {
  it.scoped("binds parameters and reads every SQLite type back", () =>
    Effect.gen(function*() {
      const sql = yield* client()
      yield* sql`CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n TEXT, flag INTEGER)`
      yield* sql`INSERT INTO t ${
        sql.insert({ i: 42, r: 1.5, s: "héllo", b: new Uint8Array([1, 2, 3]), n: null, flag: true })
      }`
      const rows = yield* sql`SELECT * FROM t WHERE s = ${"héllo"}`
      expect(rows).toEqual([{ i: 42, r: 1.5, s: "héllo", b: new Uint8Array([1, 2, 3]), n: null, flag: 1 }])
      expect(yield* sql`SELECT * FROM t WHERE s = ${"nobody"}`).toEqual([])
    }))

  it.scoped("reads integers past 2^53 exactly with safe integers, and refuses to round them without", () =>
    Effect.gen(function*() {
      const sql = yield* client()
      yield* sql`CREATE TABLE t (v INTEGER)`
      yield* sql`INSERT INTO t VALUES (${2n ** 60n}), (7)`
      const read = (v: bigint) => sql`SELECT v FROM t WHERE v = ${v}`
      expect(yield* Effect.provideService(read(2n ** 60n), SqlClient.SafeIntegers, true)).toEqual([{ v: 2n ** 60n }])
      // the same cached statement reads plain numbers again afterwards
      expect(yield* read(7n)).toEqual([{ v: 7 }])
      const lossy = yield* Effect.flip(read(2n ** 60n))
      expect(lossy.message).toContain("too large")
    }))

  it.scoped("runs raw, values and streamed queries", () =>
    Effect.gen(function*() {
      const sql = yield* client()
      yield* sql`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`
      const raw = yield* sql`INSERT INTO t (v) VALUES (${"a"})`.raw
      expect(raw).toMatchObject({ changes: 1, lastInsertRowid: 1 })
      yield* sql`INSERT INTO t (v) VALUES ('b'), ('c')`
      expect(yield* sql`SELECT id, v FROM t ORDER BY id`.values).toEqual([[1, "a"], [2, "b"], [3, "c"]])
      expect(yield* sql`SELECT id FROM t ORDER BY id`).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }])
      yield* sql`INSERT INTO t (v) SELECT 'x' FROM t a, t b, t c, t d, t e` // 243 more rows
      const streamed = yield* Stream.runCollect(sql`SELECT id FROM t ORDER BY id`.stream)
      expect(Chunk.size(streamed)).toBe(246)
      expect(Chunk.toReadonlyArray(streamed).map((row) => row.id)).toEqual(
        Array.from({ length: 246 }, (_, i) => i + 1)
      )
    }))

  it.scoped("commits a transaction, rolls back a failed one, and a failed savepoint alone", () =>
    Effect.gen(function*() {
      const sql = yield* client()
      yield* sql`CREATE TABLE t (v TEXT)`
      yield* sql.withTransaction(sql`INSERT INTO t VALUES ('committed')`)
      const failed = yield* Effect.exit(sql.withTransaction(
        Effect.zipRight(sql`INSERT INTO t VALUES ('rolled back')`, Effect.fail("boom"))
      ))
      expect(Exit.isFailure(failed)).toBe(true)
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO t VALUES ('outer')`
        yield* Effect.ignore(sql.withTransaction(
          Effect.zipRight(sql`INSERT INTO t VALUES ('inner')`, Effect.fail("inner boom"))
        ))
      }))
      expect(yield* sql`SELECT v FROM t ORDER BY rowid`).toEqual([{ v: "committed" }, { v: "outer" }])
    }))

  it.scoped("keeps other statements out of an open transaction", () =>
    Effect.gen(function*() {
      const sql = yield* client()
      yield* sql`CREATE TABLE t (v INTEGER)`
      const order: Array<string> = []
      const tx = yield* Effect.fork(sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO t VALUES (1)`
        order.push("tx wrote")
        yield* Effect.yieldNow({ priority: 0 })
        yield* Effect.yieldNow({ priority: 0 })
        yield* sql`DELETE FROM t`
        order.push("tx cleared")
      })))
      yield* Effect.yieldNow()
      const seen = yield* sql`SELECT COUNT(*) AS n FROM t`
      order.push("reader")
      yield* Fiber.join(tx)
      expect(order).toEqual(["tx wrote", "tx cleared", "reader"])
      expect(seen).toEqual([{ n: 0 }])
    }))

  it.scoped("fails with a SqlError that says what SQLite said", () =>
    Effect.gen(function*() {
      const sql = yield* client()
      yield* sql`CREATE TABLE t (k TEXT PRIMARY KEY)`
      yield* sql`INSERT INTO t VALUES ('a')`
      const duplicate = yield* Effect.flip(sql`INSERT INTO t VALUES ('a')`)
      expect(duplicate).toBeInstanceOf(SqlError)
      expect(duplicate.message).toContain("UNIQUE constraint failed: t.k")
      const syntax = yield* Effect.flip(sql.unsafe("SELEC 1"))
      expect(syntax.message).toContain("syntax error")
      // the client is still usable
      expect(yield* sql`SELECT COUNT(*) AS n FROM t`).toEqual([{ n: 1 }])
    }))

  it.scoped("keeps working past its prepared-statement cache", () =>
    Effect.gen(function*() {
      const sql = yield* client({ prepareCacheSize: 2 })
      yield* sql`CREATE TABLE t (v INTEGER)`
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 5; i++) yield* sql.unsafe(`INSERT INTO t VALUES (?) -- statement ${i}`, [i])
      }
      expect(yield* sql`SELECT SUM(v) AS s, COUNT(*) AS n FROM t`).toEqual([{ s: 30, n: 15 }])
    }))

  it.scoped("opens files in WAL mode with the synchronous level asked for", () =>
    Effect.gen(function*() {
      const wal = yield* client({ synchronous: "FULL" })
      expect(yield* wal`PRAGMA journal_mode`).toEqual([{ journal_mode: "wal" }])
      expect(yield* wal`PRAGMA synchronous`).toEqual([{ synchronous: 2 }])
      const normal = yield* client({ synchronous: "NORMAL", disableWAL: true })
      expect(yield* normal`PRAGMA journal_mode`).toEqual([{ journal_mode: "delete" }])
      expect(yield* normal`PRAGMA synchronous`).toEqual([{ synchronous: 1 }])
    }))

  it.scoped("refuses writes when read-only", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      const open = (readonly: boolean) =>
        SqliteClient.make({ filename, readonly }).pipe(Effect.provide(Reactivity.layer))
      const writer = yield* open(false)
      yield* writer`CREATE TABLE t (v INTEGER)`
      yield* writer`INSERT INTO t VALUES (1)`
      const reader = yield* open(true)
      expect(yield* reader`SELECT v FROM t`).toEqual([{ v: 1 }])
      const error = yield* Effect.flip(reader`INSERT INTO t VALUES (2)`)
      expect(error.message).toContain("readonly")
    }))

  it.scoped("fails to open a path that cannot exist with a SqlError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        SqliteClient.make({ filename: "/nonexistent-dir/parley/test.db" }).pipe(Effect.provide(Reactivity.layer))
      )
      expect(error).toBeInstanceOf(SqlError)
      expect(error.message).toContain("/nonexistent-dir/parley/test.db")
    }))

  // Another process holds the write lock for 400 ms: with a busy timeout the write waits it out;
  // without one it fails at once with "database is locked".
  it.scoped("waits for another process's lock up to the busy timeout", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      const setup = yield* SqliteClient.make({ filename }).pipe(Effect.provide(Reactivity.layer))
      yield* setup`CREATE TABLE t (v TEXT)`
      const holdLock = Effect.async<void>((resume) => {
        const child = spawn(process.execPath, [
          "-e",
          `const { DatabaseSync } = require("node:sqlite")
           const db = new DatabaseSync(process.argv[1])
           db.exec("BEGIN IMMEDIATE; INSERT INTO t VALUES ('other process')")
           console.log("locked")
           Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400)
           db.exec("COMMIT")`,
          filename
        ], { stdio: ["ignore", "pipe", "inherit"] })
        child.stdout.once("data", () => resume(Effect.void))
      })
      const patient = yield* SqliteClient.make({ filename, busyTimeout: "10 seconds" }).pipe(
        Effect.provide(Reactivity.layer)
      )
      const impatient = yield* SqliteClient.make({ filename, busyTimeout: 0 }).pipe(Effect.provide(Reactivity.layer))

      yield* holdLock
      const locked = yield* Effect.flip(impatient`INSERT INTO t VALUES ('impatient')`)
      expect(locked.message).toContain("database is locked")
      yield* patient`INSERT INTO t VALUES ('patient')`
      expect(yield* patient`SELECT v FROM t ORDER BY rowid`).toEqual([{ v: "other process" }, { v: "patient" }])
    }))

  it.effect("is the SqlClient of its layer", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const sqlite = yield* SqliteClient.SqliteClient
      expect(sql).toBe(sqlite)
      expect(sqlite.config.filename).toBe(":memory:")
      expect(yield* sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
    }).pipe(Effect.provide(SqliteClient.layer({ filename: ":memory:" }))))
})
