/**
 * The stores commands read and change: core's `Inbox` and `ConversationStore` over the database from
 * the settings, never migrating it (that is `parley migrate`'s job).
 *
 * @since 0.1.0
 */
import { ConversationStore, Inbox } from "@parley/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as SqlClient from "effect/sql/SqlClient"
import type { CliError } from "./CliError.js"
import * as Database from "./Database.js"

/**
 * The stores over `database`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  database: Database.Target
): Layer.Layer<Inbox.Inbox | ConversationStore.ConversationStore | SqlClient.SqlClient, CliError> =>
  Layer.provideMerge(Layer.merge(Inbox.layer, ConversationStore.layer), Database.layer(database))

/**
 * Runs `effect` with the stores over the bot's database.
 *
 * @since 0.1.0
 * @category layers
 */
export const withStores = <A, E>(
  effect: Effect.Effect<A, E, Inbox.Inbox | ConversationStore.ConversationStore | SqlClient.SqlClient | Scope.Scope>
): Effect.Effect<A, E | CliError> =>
  Effect.flatMap(Database.fromConfig, (database) => effect.pipe(Effect.provide(layer(database)), Effect.scoped))
