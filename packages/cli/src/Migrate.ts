/**
 * `parley migrate [--json]`: creates or brings the bot's database up to date (as the bot does at
 * start); safe to run while the bot runs.
 *
 * @since 0.1.0
 */
import { Migrations } from "@parley/core"
import * as Command from "effect/cli/Command"
import * as Effect from "effect/Effect"
import { mkdirSync } from "node:fs"
import { dirname } from "node:path"
import * as Database from "./Database.js"
import * as Output from "./Output.js"

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("migrate", { json: Output.json }, ({ json }) =>
  Effect.gen(function*() {
    const database = yield* Database.fromConfig
    if (database._tag === "Sqlite") mkdirSync(dirname(database.file), { recursive: true })
    const applied = yield* Migrations.run.pipe(
      Effect.mapError(Database.failed("migrating")),
      Effect.provide(Database.layer(database, { create: true }))
    )
    yield* Output.print(
      json,
      { database: database.display, applied: applied.map(([id, name]) => ({ id, name })) },
      () => [
        applied.length === 0
          ? `${database.display} is up to date.`
          : `Migrated ${database.display}: ${applied.map(([, name]) => name).join(", ")}`
      ]
    )
  })).pipe(Command.withDescription("Create the database's tables, or bring them up to date"))
