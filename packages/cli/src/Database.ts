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
import { SqliteClient } from "@effect/sql-sqlite-node"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import { isSqlError, type SqlError } from "effect/sql/SqlError"
import { existsSync } from "node:fs"
import { join, resolve } from "node:path"
import { CliError, describeConfigError, ExitCode } from "./CliError.js"

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
  url: Config.option(Config.schema(Schema.Redacted(Schema.NonEmptyString), "PARLEY_DATABASE_URL")),
  dataDir: Config.withDefault(Config.String("PARLEY_DATA_DIR"), "data")
}).pipe(Config.map(({ dataDir, url }): Target => {
  if (Option.isSome(url)) {
    const given = Redacted.value(url.value)
    if (isPostgres(given)) return { _tag: "Postgres", url: url.value, display: withoutPassword(given) }
    const file = resolve(given)
    return { _tag: "Sqlite", file, display: file }
  }
  const file = resolve(join(dataDir, "parley.db"))
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
  const unreachable = (error: SqlError) =>
    new CliError({
      problem: `cannot open the database ${database.display}: ${describe(error)}`,
      fix: "Check PARLEY_DATABASE_URL (or PARLEY_DATA_DIR) and that the database is up",
      exitCode: ExitCode.failed
    })
  const orUnreachable = (client: Layer.Layer<SqlClient.SqlClient, SqlError>) =>
    Layer.catch(client, (error) => Layer.effect(SqlClient.SqlClient, Effect.fail(unreachable(error))))
  if (database._tag === "Postgres") {
    // The pool connects on first use: a first query makes a server that cannot be reached (or refuses
    // the credentials) fail here, with the fix, rather than in the command's first read.
    return orUnreachable(
      Layer.tap(PgClient.layer({ url: database.url }), (context) => Context.get(context, SqlClient.SqlClient)`SELECT 1`)
    )
  }
  const sqlite = orUnreachable(SqliteClient.layer({ filename: database.file }))
  if (options.create === true) return sqlite
  // Checked when the layer is built: the file may appear or go between.
  return Layer.unwrap(Effect.sync(() =>
    existsSync(database.file) ? sqlite : Layer.effect(
      SqlClient.SqlClient,
      Effect.fail(
        new CliError({
          problem: `no database at ${database.file}`,
          fix:
            "Set PARLEY_DATABASE_URL (a file path or postgres://…) or PARLEY_DATA_DIR to the bot's, or run `parley migrate` to create it",
          exitCode: ExitCode.notFound
        })
      )
    )
  ))
}

/**
 * A failure's message with what the database itself said: a `SqlError`'s own message is Effect's
 * summary ("Failed to execute statement"), and SQLite's or PostgreSQL's words ("no such table:
 * parley_chats") are in its reason's cause.
 *
 * @since 0.1.0
 * @category errors
 */
export const describe = (error: { readonly message: string }): string => {
  const cause: unknown = isSqlError(error) ? error.reason.cause : undefined
  const said = cause instanceof Error ? cause.message : undefined
  return said === undefined || said === "" || error.message.includes(said) ? error.message : `${error.message}: ${said}`
}

/**
 * A database failure in a command, as a `CliError`.
 *
 * @since 0.1.0
 * @category errors
 */
export const failed = (what: string) => (error: { readonly message: string }): CliError =>
  new CliError({
    problem: `${what} failed: ${describe(error)}`,
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
    problem: `a database setting is wrong: ${describeConfigError(error)}`,
    fix: "Set PARLEY_DATABASE_URL to postgres://… or a file path",
    exitCode: ExitCode.usage
  }))
