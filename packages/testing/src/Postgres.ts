/**
 * A throwaway PostgreSQL server for tests, from the distribution's binaries (`apt-get install
 * postgresql`): started on a free loopback port in a temp dir for the life of a scope, with fresh
 * databases on demand. Durability is off (`fsync=off`): it is for tests only.
 *
 * @example
 * ```ts
 * import { Postgres } from "@parley/testing"
 *
 * const url = Effect.gen(function*() {
 *   const server = yield* Postgres.start
 *   return yield* Postgres.createDatabase(server) // postgres://parley@127.0.0.1:<port>/parley_test_…
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { execFileSync } from "node:child_process"
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

/**
 * A running server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Server {
  readonly port: number
  /** The URL of one of its databases, as user `parley` (trusted). */
  readonly url: (database: string) => string
}

const binDir = (): string | undefined => {
  const root = "/usr/lib/postgresql"
  if (existsSync(root)) {
    const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a))
    for (const version of versions) {
      const dir = join(root, version, "bin")
      if (existsSync(join(dir, "initdb"))) return dir
    }
  }
  try {
    const initdb = execFileSync("sh", ["-c", "command -v initdb"], { encoding: "utf8" }).trim()
    return initdb ? initdb.replace(/\/initdb$/, "") : undefined
  } catch {
    return undefined
  }
}

/**
 * Where PostgreSQL's binaries are, if installed.
 *
 * @since 0.1.0
 * @category constants
 */
export const binaries: string | undefined = binDir()

const freePort = Effect.callback<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

// PostgreSQL refuses to run as root: run its tools as the `postgres` user then.
const asPostgres = (bin: string, args: ReadonlyArray<string>) => {
  const root = process.getuid?.() === 0
  execFileSync(root ? "runuser" : bin, root ? ["-u", "postgres", "--", bin, ...args] : [...args], { stdio: "pipe" })
}

/**
 * Starts a server on a free loopback port for the life of the scope (dies when no binaries are found).
 *
 * @since 0.1.0
 * @category constructors
 */
export const start: Effect.Effect<Server, never, Scope.Scope> = Effect.suspend(() => startWith({}))

/**
 * `start`, with server settings added (`-c name=value`; values without spaces), e.g.
 * `{ shared_preload_libraries: "pg_stat_statements" }`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const startWith = (options: {
  readonly settings?: Readonly<Record<string, string>> | undefined
}): Effect.Effect<Server, never, Scope.Scope> =>
  Effect.gen(function*() {
    const bin = binaries
    if (bin === undefined) {
      return yield* Effect.die(new Error("no PostgreSQL binaries found (apt-get install postgresql)"))
    }
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "parley-pg-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
    const data = join(dir, "data")
    const port = yield* freePort
    if (process.getuid?.() === 0) {
      chmodSync(dir, 0o755)
      const { gid, uid } = JSON.parse(
        execFileSync("sh", ["-c", "printf '{\"uid\":%s,\"gid\":%s}' $(id -u postgres) $(id -g postgres)"], {
          encoding: "utf8"
        })
      )
      chownSync(dir, uid, gid)
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        asPostgres(join(bin, "initdb"), ["-D", data, "-U", "parley", "--auth=trust", "--no-sync", "-E", "UTF8"])
        asPostgres(join(bin, "pg_ctl"), [
          "-D",
          data,
          "-w",
          "-l",
          join(dir, "log"),
          "-o",
          `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off` +
          Object.entries(options.settings ?? {}).map(([name, value]) => ` -c ${name}=${value}`).join(""),
          "start"
        ])
      }),
      () => Effect.sync(() => asPostgres(join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "stop"]))
    )
    return { port, url: (database: string) => `postgres://parley@127.0.0.1:${port}/${database}` }
  })

let counter = 0

/**
 * Creates a fresh database on the server; its URL.
 *
 * @since 0.1.0
 * @category constructors
 */
export const createDatabase = (server: Server, name?: string): Effect.Effect<string> =>
  Effect.sync(() => {
    const database = name ?? `parley_test_${process.pid}_${++counter}`
    execFileSync(
      join(binaries!, "createdb"),
      ["-h", "127.0.0.1", "-p", String(server.port), "-U", "parley", database],
      {
        stdio: "pipe"
      }
    )
    return server.url(database)
  })

/**
 * Runs one SQL query with `psql` on a database; its output, unaligned and without headers.
 *
 * @since 0.1.0
 * @category utils
 */
export const query = (url: string, sql: string): Effect.Effect<string> =>
  Effect.sync(() => execFileSync(join(binaries!, "psql"), [url, "-Atc", sql], { encoding: "utf8" }).trim())

/**
 * The deadlocks PostgreSQL detected in a database, once no other connection to it is left (waiting
 * up to 20 s for them to close): a backend reports its statistics as it exits, before it leaves
 * `pg_stat_activity`, so the count is then complete.
 *
 * @since 0.1.0
 * @category utils
 */
export const deadlocks = (url: string): Effect.Effect<number> =>
  query(
    url,
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
  ).pipe(
    Effect.filterOrFail((others) => others === "0"),
    Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo({ duration: "20 seconds" }))),
    Effect.orDie,
    Effect.andThen(query(url, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")),
    Effect.flatMap((count) =>
      /^\d+$/.test(count)
        ? Effect.succeed(Number(count))
        : Effect.die(new Error(`no deadlock count: "${count}"`))
    )
  )
