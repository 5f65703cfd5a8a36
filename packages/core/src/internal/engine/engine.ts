/**
 * The engine, assembled from its parts, read top down:
 *
 * 1. the pending view (`pending.ts`), fed by the inbox as enqueues commit (and by a poll for what other
 *    processes wrote), offers each chat that has events to the workers;
 * 2. the handler (`handle.ts`) handles one event in its chat's session;
 * 3. the chats (`coordination.ts`, chosen by the database): how a worker takes, orders, keeps and lets go
 *    of a chat, and what runs in the background (SQLite: the engine's hold on the database; PostgreSQL:
 *    the chats' holds and wake-ups);
 * 4. the timer loop (`timers.ts`) and retention (`retention.ts`);
 * 5. `concurrency` workers (`worker.ts`), each taking the next chat that has events.
 *
 * A clean stop lets the events being handled finish and commit; a displaced engine (another took its
 * SQLite database while it was paused) stops its loops.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Queue from "effect/Queue"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Bot from "../../Bot.js"
import type * as MessagingService from "../../MessagingService.js"
import * as Handle from "./handle.js"
import { Pending } from "./pending.js"
import * as Retention from "./retention.js"
import type * as Store from "./store.js"
import * as Timers from "./timers.js"
import * as Worker from "./worker.js"

// How long a clean stop waits for the events being handled.
const drainMillis = 10_000

/** @internal */
export interface Settings {
  readonly concurrency: number
  readonly pollInterval: Duration.Duration
  readonly lease: Duration.Duration
  readonly retry: Schedule.Schedule<unknown, unknown>
  readonly window: Duration.Duration
  readonly owner: string
  readonly retention: Retention.Settings
}

/** @internal */
export const run = <R>(options: {
  readonly bot: Bot.Bot<R>
  readonly store: Store.Service
  readonly messaging: MessagingService.Service
  readonly context: Context.Context<R>
  readonly settings: Settings
}): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { settings, store } = options
    const clock = yield* Clock.Clock
    const displaced = yield* Deferred.make<void>()

    // 1. The pending view: chats with events queue up for a worker. Events are handed over as their enqueue
    // commits; the first poll then finds what was pending.
    const ready = yield* Effect.acquireRelease(Queue.unbounded<string>(), Queue.shutdown)
    const pending = new Pending(ready)
    yield* Effect.acquireRelease(Effect.sync(() => store.listen((entries) => pending.add(entries))), (stop) =>
      Effect.sync(stop))
    const poll = store.poll((id) =>
      pending.has(id), (found) => pending.add(found)).pipe(
        Effect.catchCause((cause) => Effect.logError("inbox poll failed", cause))
      )
    // The loops run in a set that a displaced engine stops (made after the queue: on the way out, the loops
    // stop before the queue does).
    const fibers = yield* FiberSet.make()
    // 2. The handler.
    const handle = Handle.make({
      bot: options.bot,
      messaging: options.messaging,
      store,
      context: options.context,
      window: Duration.toMillis(settings.window),
      clock
    })
    // 3. The chats, as this database coordinates them.
    const chats = store.coordination.chats({
      store,
      pending,
      owner: settings.owner,
      leaseMillis: Duration.toMillis(settings.lease),
      pollInterval: settings.pollInterval,
      clock,
      displaced,
      fibers
    })
    // 4. The timers.
    const timers = Timers.make({ store, clock, pollMillis: Duration.toMillis(settings.pollInterval), fibers })
    const lifecycle = yield* stopping
    // 5. The workers.
    const worker: Worker.Worker = {
      store,
      pending,
      chats,
      handle,
      retry: settings.retry,
      clock,
      engine: {
        ...lifecycle,
        displaced: Deferred.succeed(displaced, undefined),
        requeue: (chat) => {
          if (Queue.sizeUnsafe(ready) === 0) return false
          Queue.offerUnsafe(ready, chat)
          return true
        },
        timersChanged: timers.changed
      }
    }

    // A chat that retention deleted is read afresh at its next event.
    yield* Effect.acquireRelease(
      Effect.sync(() => store.listenPruned((pruned) => chats.sessions.forget(pruned))),
      (stop) => Effect.sync(stop)
    )

    // Started before the layer is built, so the engine is up (its hold taken, the inbox read, the next timer
    // known) when the app's layers are.
    yield* chats.run
    yield* poll
    yield* timers.start
    yield* FiberSet.run(fibers, Effect.forever(Effect.andThen(Effect.sleep(settings.pollInterval), poll)))
    yield* FiberSet.run(fibers, Retention.run(store, settings.retention))
    // Each worker takes the next chat that has events, for as long as the engine runs. (No yield between
    // chats, which `Effect.forever` otherwise makes each time round: the runtime still yields every 2,048
    // operations.)
    const workerLoop = Queue.take(ready).pipe(
      Effect.flatMap((chat) => Worker.runChat(worker, chat)),
      Effect.catchCause((cause) => Effect.logError("chat worker failed", cause)),
      Effect.forever({ disableYield: true })
    )
    for (let i = 0; i < settings.concurrency; i++) yield* FiberSet.run(fibers, workerLoop)
    // A displaced engine stops: its workers end, and the engine that took the database goes on.
    yield* Deferred.await(displaced).pipe(
      Effect.andThen(Effect.logError("the engine stopped: another engine took its database")),
      Effect.andThen(FiberSet.clear(fibers)),
      Effect.forkScoped
    )
    // Added last, so it runs first when the scope closes: before the workers are interrupted.
    yield* Effect.addFinalizer(() => lifecycle.drain)
  })

/**
 * A clean stop: the workers take no new event, and the events being handled finish and commit (up to
 * `drainMillis`), so a stop repeats no send; the database's fibers outlive the engine's.
 */
const stopping = Effect.gen(function*() {
  let stopped = false
  let running = 0
  const drained = yield* Deferred.make<void>()
  const drain = Effect.suspend(() => {
    stopped = true
    if (running === 0) return Effect.void
    const deadline = Effect.callback<void>((resume) => {
      const timer = setTimeout(
        () => resume(Effect.logWarning("stopping without waiting longer for the events in flight")),
        drainMillis
      )
      return Effect.sync(() => clearTimeout(timer))
    })
    // (Finalizers run uninterruptibly: the race must be able to interrupt its loser.)
    return Effect.interruptible(Effect.raceFirst(Deferred.await(drained), deadline))
  })
  return {
    stopping: () => stopped,
    enter: () => void running++,
    leave: Effect.suspend(() => --running === 0 && stopped ? Deferred.succeed(drained, undefined) : Effect.void),
    drain
  }
})
