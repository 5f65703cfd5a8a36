/**
 * The engine's one way into the database: units of work (a few statements each, no I/O besides the
 * database) run by one fiber, in batches, one transaction per batch, on one reserved connection.
 *
 * SQLite has one writer and most of the cost of a small write is its commit: many chats finishing at
 * once share one `COMMIT` (one fsync with `synchronous = FULL`). Statements run on the connection
 * directly, without `effect/sql`'s per-statement compile and span (on Effect 4 with
 * `@effect/sql-sqlite-node`, about 10 µs of CPU a statement instead of about 18).
 *
 * A unit that fails rolls the batch back; every unit of that batch then runs again in a transaction of
 * its own, so one bad unit fails alone. A unit's `run` must therefore only touch the database; what it
 * changes in memory goes in `onCommit`, which runs once, after its transaction commits, in the order
 * the units were submitted.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type * as SqlClient from "effect/sql/SqlClient"
import type { Connection } from "effect/sql/SqlConnection"
import type { SqlError } from "effect/sql/SqlError"
import * as Metrics from "../../Metrics.js"

/** @internal */
export interface Unit<A, E = never> {
  readonly run: (conn: Connection) => Effect.Effect<A, E | SqlError>
  /** In-memory effects of the unit, run once its transaction has committed. */
  readonly onCommit?: ((a: A) => void) | undefined
  /** Whether the unit may only commit while this instance holds the engine's lease (see `fence`). */
  readonly fenced?: boolean | undefined
  /**
   * Reads, or a single statement: needs no transaction of its own, so a batch of such units alone runs
   * without `BEGIN`/`COMMIT` (each statement is atomic by itself).
   */
  readonly standalone?: boolean | undefined
  /**
   * The chats whose rows the unit writes. Where the database locks rows (PostgreSQL), a batch first
   * takes its chats' locks in one global order (see `lockChats`), so two batches never wait for each
   * other in a cycle.
   */
  readonly chats?: ReadonlyArray<string> | undefined
}

/** @internal */
export interface GroupCommit {
  readonly submit: <A, E>(unit: Unit<A, E>) => Effect.Effect<A, E | SqlError>
  /**
   * Checks, inside each batch that holds a fenced unit, that this instance may still write; when it
   * fails, the fenced units of the batch fail with its error and the others commit.
   */
  readonly setFence: (fence: (conn: Connection) => Effect.Effect<void, unknown>) => void
}

interface Item {
  readonly unit: Unit<any, any>
  readonly done: Deferred.Deferred<any, any>
}

/** @internal */
export const make = (options: {
  readonly sql: SqlClient.SqlClient
  readonly begin: string
  readonly maxBatch?: number | undefined
  /**
   * Batches run at once, each on its own connection (default 1: SQLite has one writer). Over a network
   * database several hide each other's round trips.
   */
  readonly connections?: number | undefined
  /**
   * Takes the locks of the batch's chats (the units' `chats`) in one global order, first in each
   * transaction. Without it, batches on several connections (or processes) that write the same chats
   * in different orders deadlock, and the database breaks each cycle only after a timeout.
   */
  readonly lockChats?:
    | ((conn: Connection, chats: ReadonlyArray<string>) => Effect.Effect<unknown, SqlError>)
    | undefined
}): Effect.Effect<GroupCommit, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Effect.acquireRelease(Queue.unbounded<Item>(), Queue.shutdown)
    const maxBatch = options.maxBatch ?? 256
    let fence: ((conn: Connection) => Effect.Effect<void, unknown>) | undefined

    // Runs the items in one transaction: each unit's result, or the failure of the unit that rolled the
    // batch back.
    // Statements are counted per batch, and added to the metrics once per batch. (A connection may be
    // a class instance: the count is layered over it, not copied from it.)
    const counted = (conn: Connection, count: { statements: number }): Connection =>
      Object.assign(Object.create(conn) as Connection, {
        execute: (sql: string, params: ReadonlyArray<unknown>, transform: any) => {
          count.statements++
          return conn.execute(sql, params, transform)
        }
      })

    const transaction = (items: ReadonlyArray<Item>, count: { statements: number }) =>
      Effect.scoped(Effect.gen(function*() {
        const conn = counted(yield* options.sql.reserve, count)
        if (items.every((item) => item.unit.standalone === true)) {
          const results: Array<Exit.Exit<unknown, unknown>> = []
          for (const item of items) results.push(yield* Effect.exit(item.unit.run(conn)))
          return { rolledBack: undefined, results }
        }
        yield* conn.executeUnprepared(options.begin, [], undefined)
        count.statements += 2
        const chats = items.flatMap((item) => item.unit.chats ?? [])
        if (options.lockChats !== undefined && chats.length > 0) {
          const locked = yield* Effect.exit(options.lockChats(conn, chats))
          if (Exit.isFailure(locked)) {
            yield* Effect.ignore(conn.executeUnprepared("ROLLBACK", [], undefined))
            return { rolledBack: locked, results: [] }
          }
        }
        const fenceExit = fence !== undefined && items.some((item) => item.unit.fenced === true)
          ? yield* Effect.exit(fence(conn))
          : Exit.void
        const results: Array<Exit.Exit<unknown, unknown>> = []
        for (const item of items) {
          if (item.unit.fenced === true && Exit.isFailure(fenceExit)) {
            results.push(fenceExit)
            continue
          }
          const exit = yield* Effect.exit(item.unit.run(conn))
          if (Exit.isFailure(exit)) {
            yield* Effect.ignore(conn.executeUnprepared("ROLLBACK", [], undefined))
            return { rolledBack: exit, results }
          }
          results.push(exit)
        }
        const committed = yield* Effect.exit(conn.executeUnprepared("COMMIT", [], undefined))
        if (Exit.isFailure(committed)) {
          yield* Effect.ignore(conn.executeUnprepared("ROLLBACK", [], undefined))
          return { rolledBack: undefined, results: items.map(() => committed) }
        }
        return { rolledBack: undefined, results }
      }))

    const settle = (items: ReadonlyArray<Item>, results: ReadonlyArray<Exit.Exit<unknown, unknown>>) =>
      Effect.sync(() => {
        items.forEach((item, i) => {
          const exit = results[i]!
          if (Exit.isSuccess(exit)) item.unit.onCommit?.(exit.value)
        })
        items.forEach((item, i) => Deferred.doneUnsafe(item.done, results[i]!))
      })

    const batch = (items: ReadonlyArray<Item>): Effect.Effect<void> =>
      Effect.gen(function*() {
        const count = { statements: 0 }
        const outcome = yield* Effect.exit(transaction(items, count))
        yield* Metric.update(Metrics.statements, count.statements)
        if (!items.every((item) => item.unit.standalone === true)) yield* Metric.update(Metrics.transactions, 1)
        if (Exit.isFailure(outcome)) return yield* settle(items, items.map(() => outcome))
        const { results, rolledBack } = outcome.value
        if (rolledBack === undefined) return yield* settle(items, results)
        if (items.length === 1) return yield* settle(items, [rolledBack])
        // One unit failed and took the batch with it: each runs again alone, so only that one fails.
        for (const item of items) yield* batch([item])
      })

    // Once work arrives, one turn of the event loop lets what is already on its way (requests read,
    // handlers finishing) join the batch: one commit, and one fsync, for all of it. (Effect 4's scheduler
    // resumes a fiber that yields from `setImmediate`, after the I/O that is ready: the yield is that turn.)
    const gather = Effect.tap(Queue.take(queue), () => Effect.yieldNow).pipe(
      // What else is there, up to a batch, without waiting (`Queue.takeBetween` waits for at least one; with
      // several connections another batch may have taken the rest).
      Effect.flatMap((first) =>
        Effect.sync(() => {
          const items = [first]
          while (items.length < maxBatch) {
            const next = Queue.takeUnsafe(queue)
            if (next === undefined || Exit.isFailure(next)) break
            items.push(next.value)
          }
          return items
        })
      )
    )
    for (let i = 0; i < (options.connections ?? 1); i++) {
      yield* gather.pipe(
        Effect.flatMap((items) => Effect.uninterruptible(batch(items))),
        Effect.forever,
        Effect.forkScoped
      )
    }

    return {
      submit: <A, E>(unit: Unit<A, E>) =>
        Effect.flatMap(Deferred.make<A, E | SqlError>(), (done) =>
          Effect.andThen(Queue.offer(queue, { unit, done }), Deferred.await(done))),
      setFence: (f) => {
        fence = f
      }
    }
  })
