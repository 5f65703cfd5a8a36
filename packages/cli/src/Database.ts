/**
 * The bot's database, from the same settings as the app: `PARLEY_DATABASE_URL` (`postgres://…` for
 * PostgreSQL, or a SQLite file path), else `parley.db` in `PARLEY_DATA_DIR` (default `data`).
 *
 * SQLite's client waits out another process's lock (its busy timeout), so `parley` works on the file
 * of a running bot.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import type * as SqlClient from "effect/sql/SqlClient"
import { SqliteClient } from "@effect/sql-sqlite-node"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { existsSync } from "node:fs"
import { join, resolve } from "node:path"
import { CliError, ExitCode } from "./CliError.js"

/**
 * @since 0.1.0
 * @category models
 */
export type Target =
  | { readonly _tag: "Postgres"; readonly url: Redacted.Redacted; readonly display: string }
  | { readonly _tag: "Sqlite"; readonly file: string; readonly display: string }

const isPostgres = (url: string) => /^postgres(ql)?:\/\//.test(url)

// A URL as it may be shown: without its password.
const withoutPassword = (url: string) => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.toString()
  } catch {
    return "the PostgreSQL URL"
  }
}

/**
 * @since 0.1.0
 * @category config
 */
export const target: Config.Config<Target> = Config.all({
  url: Config.option(Config.redacted(Config.nonEmptyString("PARLEY_DATABASE_URL"))),
  dataDir: Config.withDefault(Config.string("PARLEY_DATA_DIR"), "data")
}).pipe(Config.map(({ dataDir, url }): Target => {
  const given = Option.map(url, Redacted.value)
  if (Option.isSome(given) && isPostgres(given.value)) {
    return { _tag: "Postgres", url: Option.getOrThrow(url), display: withoutPassword(given.value) }
  }
  const file = resolve(Option.getOrElse(given, () => join(dataDir, "parley.db")))
  return { _tag: "Sqlite", file, display: file }
}))

/**
 * The database's `SqlClient`. Unless `create` is set, a SQLite file that does not exist is an error
 * (opening it would create an empty database).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  database: Target,
  options: { readonly create?: boolean | undefined } = {}
): Layer.Layer<SqlClient.SqlClient, CliError> => {
  const unreachable = (cause: unknown) =>
    new CliError({
      problem: `cannot open the database ${database.display}: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      fix: "Check PARLEY_DATABASE_URL (or PARLEY_DATA_DIR) and that the database is up",
      exitCode: ExitCode.failed
    })
  if (database._tag === "Postgres") {
    return PgClient.layer({ url: database.url }).pipe(Layer.mapError(unreachable))
  }
  if (options.create !== true && !existsSync(database.file)) {
    return Layer.fail(
      new CliError({
        problem: `no database at ${database.file}`,
        fix:
          "Set PARLEY_DATABASE_URL (a file path or postgres://…) or PARLEY_DATA_DIR to the bot's, or run `parley migrate` to create it",
        exitCode: ExitCode.notFound
      })
    )
  }
  return SqliteClient.layer({ filename: database.file }).pipe(Layer.mapError(unreachable))
}

/**
 * A database failure in a command, as a `CliError`.
 *
 * @since 0.1.0
 * @category errors
 */
export const failed = (what: string) => (error: { readonly message: string }): CliError =>
  new CliError({
    problem: `${what} failed: ${error.message}`,
    fix: "Run `parley doctor` to check the database; run `parley migrate` if its tables are missing",
    exitCode: ExitCode.failed
  })

/**
 * The database target from the settings, as an effect failing with a `CliError`.
 *
 * @since 0.1.0
 * @category config
 */
export const fromConfig: Effect.Effect<Target, CliError> = Effect.mapError(target, (error) =>
  new CliError({
    problem: `a database setting is wrong: ${String(error)}`,
    fix: "Set PARLEY_DATABASE_URL to postgres://… or a file path",
    exitCode: ExitCode.usage
  }))
