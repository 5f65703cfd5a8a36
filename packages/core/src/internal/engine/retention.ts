/**
 * Keeps the store bounded: off the hot path, in small batches through the group commit, it deletes
 * what no longer serves a purpose, and reports each table's rows and the database's bytes.
 *
 * - a handled (or dead-lettered) event's inbox row, once its dedupe window has passed: until then it is
 *   the mark that drops a provider's redelivery;
 * - timers that fired or were cancelled (the fired ones are events in the inbox);
 * - sent messages older than their window (they are kept to match delivery statuses);
 * - idempotency keys whose window has ended;
 * - finished chats of users who have been silent longer than `inactiveChats` (at least the 24 h window):
 *   a chat's row goes once its dialog has ended, nothing has been written to it and its user has not
 *   written since the cutoff, no instance holds it, and it has no pending event or timer. Chats are swept
 *   a range at a time in key order, going round the table (up to `chatsPerPass` a pass), so that no index
 *   on when a chat was last active has to be kept up to date on every commit.
 *
 * Dead letters stay until a person drops them. Several instances may prune at once: each batch deletes
 * rows that are already of no use to anyone.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type { SqlError } from "effect/sql/SqlError"
import * as Metrics from "../../Metrics.js"
import type * as Store from "./store.js"

/** @internal */
export interface Settings {
  readonly dedupe: Duration.Duration
  readonly sentMessages: Duration.Duration
  /** How long a finished chat of a user who stopped writing is kept (the engine makes it at least its window). */
  readonly inactiveChats: Duration.Duration
  readonly every: Duration.Duration
}

/** Rows deleted per statement: small enough that the hot path never waits long behind a batch. */
const batchSize = 500

/** Chats looked at per pass: a table of a million chats is gone round in 100 passes. */
const chatsPerPass = 10_000

/** Where the sweep of chats goes on from (the chat key it last looked at; `""`: the start of the table). @internal */
export interface Sweep {
  after: string
}

const tableRows = (table: string) => Metric.withAttributes(Metrics.storeRows, { table })

/** One pruning pass: deletes in batches until nothing is left to delete, then reports the sizes. @internal */
export const prune = (
  store: Store.Service,
  settings: Settings,
  sweep: Sweep = { after: "" }
): Effect.Effect<void, SqlError> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const cutoffs = {
      dedupe: now - Duration.toMillis(settings.dedupe),
      sentMessages: now - Duration.toMillis(settings.sentMessages),
      now
    }
    // Batch after batch, each queued behind the hot path's work, until nothing is left to delete.
    let more = true
    while (more) more = yield* store.prune(cutoffs, batchSize)
    // The chats: the next ranges of the sweep, back to the start of the table once past its end.
    const chats = { idle: now - Duration.toMillis(settings.inactiveChats), now }
    for (let looked = 0; looked < chatsPerPass;) {
      const range = yield* store.pruneChats(chats, sweep.after, batchSize)
      looked += range.scanned
      sweep.after = range.scanned < batchSize ? "" : range.last
      if (range.scanned < batchSize) break
    }
    const size = yield* store.size
    for (const [table, rows] of Object.entries(size.rows)) yield* Metric.update(tableRows(table), rows)
    yield* Metric.update(Metrics.storeBytes, size.bytes)
    yield* Metric.update(Metrics.pruneRuns, 1)
  })

/** Prunes every `settings.every`, for the life of the engine. @internal */
export const run = (store: Store.Service, settings: Settings): Effect.Effect<never> =>
  Effect.suspend(() => {
    const sweep: Sweep = { after: "" }
    return prune(store, settings, sweep).pipe(
      Effect.catchCause((cause) => Effect.logError("pruning the store failed; trying again later", cause)),
      Effect.andThen(Effect.sleep(settings.every)),
      Effect.forever
    )
  })
