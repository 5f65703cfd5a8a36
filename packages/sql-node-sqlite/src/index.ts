/**
 * @parley/sql-node-sqlite: an `@effect/sql` client over Node.js's built-in `node:sqlite`.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as SqliteClient from "./SqliteClient.js"
