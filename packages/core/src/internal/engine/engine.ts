/**
 * The engine: its pending view fed by the inbox (as enqueues commit, and by a poll for what other
 * processes wrote), a pool of workers taking chats one at a time each, and the timer loop. On SQLite
 * it first takes the engine's hold on the database, which fences its commits.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Bot from "../../Bot.js"
import type * as MessagingService from "../../MessagingService.js"
import * as Handle from "./handle.js"
import { Pending } from "./pending.js"
import * as Retention from "./retention.js"
import { SessionCache } from "./session.js"
import type * as Store from "./store.js"
import * as Worker from "./worker.js"

// Enough for the chats active at once in a busy bot; each costs its dialog's journal and state.
const sessionCacheSize = 1_000
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
  readonly store: Store.EngineStore
  readonly messaging: MessagingService.Service
  readonly context: Context.Context<R>
  readonly settings: Settings
}): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { bot, settings, store } = options
    const routes = new Map<string, Bot.Handler<R>>(bot.routes.map((route) => [route.name, route.handler]))
    if (bot.fallback) routes.set(Handle.FALLBACK, bot.fallback)
    const leaseMillis = Duration.toMillis(settings.lease)
    const pollMillis = Duration.toMillis(settings.pollInterval)
    const ready = yield* Effect.acquireRelease(Queue.unbounded<string>(), Queue.shutdown)
    const pending = new Pending(ready)
    const timersChanged = yield* Queue.sliding<void>(1)
    const displaced = yield* Deferred.make<void>()

    const clock = yield* Effect.clock
    const { handle } = Handle.make({
      bot,
      routes,
      messaging: options.messaging,
      store,
      context: options.context,
      window: Duration.toMillis(settings.window),
      clock
    })
    // A clean stop lets the events being handled finish and commit (up to `drainMillis`), so a stop
    // repeats no send; the database's fibers outlive the engine's.
    let stopping = false
    let running = 0
    const drained = yield* Deferred.make<void>()
    const drain = Effect.suspend(() => {
      stopping = true
      if (running === 0) return Effect.void
      const deadline = Effect.async<void>((resume) => {
        const timer = setTimeout(
          () => resume(Effect.logWarning("stopping without waiting longer for the events in flight")),
          drainMillis
        )
        return Effect.sync(() => clearTimeout(timer))
      })
      // (Finalizers run uninterruptibly: the race must be able to interrupt its loser.)
      return Effect.interruptible(Effect.raceFirst(Deferred.await(drained), deadline))
    })
    const busy: Worker.Worker["busy"] = {
      enter: () => void running++,
      leave: Effect.suspend(() => --running === 0 && stopping ? Deferred.succeed(drained, undefined) : Effect.void)
    }

    const worker: Worker.Worker = {
      store,
      pending,
      handle,
      retry: settings.retry,
      clock,
      busy,
      owner: settings.owner,
      leaseMillis,
      timersChanged: Queue.offer(timersChanged, undefined),
      displaced: Deferred.succeed(displaced, undefined),
      // On SQLite this engine, under its hold, is the only writer of every chat: recent chats' sessions are
      // kept. On PostgreSQL only those of chats handed back to the queue, which this instance holds.
      sessions: new SessionCache(store.dialect === "sqlite" ? sessionCacheSize : Infinity),
      stopping: () => stopping,
      held: new Map(),
      requeue: (chat) => {
        if (Option.getOrElse(ready.unsafeSize(), () => 0) === 0) return false
        Queue.unsafeOffer(ready, chat)
        return true
      }
    }

    // Events are handed over as their enqueue commits; the first poll then finds what was pending.
    yield* Effect.acquireRelease(Effect.sync(() => store.listen((entries) => pending.add(entries))), (stop) =>
      Effect.sync(stop))

    const poll = store.poll((id) =>
      pending.has(id), (found) => pending.add(found)).pipe(
        Effect.catchAllCause((cause) => Effect.logError("inbox poll failed", cause))
      )

    const fireTimers = Effect.gen(function*() {
      const due = yield* store.dueTimers(yield* Clock.currentTimeMillis, 100)
      for (const timer of due) yield* store.fireTimer(timer, yield* Clock.currentTimeMillis)
    }).pipe(Effect.catchAllCause((cause) => Effect.logError("timer poll failed", cause)))

    // The timer loop's step: fires what is due, and says how long to sleep: until the next timer (at
    // most a poll interval, for timers other instances add).
    const timerStep = Effect.gen(function*() {
      yield* fireTimers
      const now = yield* Clock.currentTimeMillis
      const next = yield* Effect.orElseSucceed(store.nextTimerAt, () => Option.none<number>())
      return Option.match(next, {
        onNone: () => pollMillis,
        onSome: (at) => Math.min(Math.max(at - now, 0), pollMillis)
      })
    })

    // Started before the layer is built, so the engine is up (its hold taken, the inbox read, the
    // next timer known) when the app's layers are; the loops run in a set that a displaced engine stops.
    const fibers = yield* FiberSet.make()
    // SQLite serves one engine: take the database's hold first (waiting while another live engine has
    // it), and keep it renewed: every poll interval or a third of the lease, whichever is longer (a hold
    // lasts three renewals, so an engine that stops is replaced within that).
    if (store.dialect === "sqlite") {
      const renewMillis = Math.max(pollMillis, leaseMillis / 3)
      const held = yield* store.holdEngine(settings.owner, 3 * renewMillis).pipe(
        Effect.tapError((error) => Effect.logWarning(`${error.message}; waiting`)),
        Effect.retry(Schedule.spaced(Duration.millis(renewMillis))),
        Effect.orDie
      )
      yield* FiberSet.run(
        fibers,
        held.renew.pipe(
          Effect.flatMap((still) => still ? Effect.void : Deferred.succeed(displaced, undefined)),
          Effect.catchAllCause((cause) => Effect.logError("renewing the engine's hold failed", cause)),
          Effect.delay(Duration.millis(renewMillis)),
          Effect.forever
        )
      )
    }
    yield* poll
    const firstWait = yield* timerStep
    yield* FiberSet.run(fibers, Effect.forever(Effect.zipRight(Effect.sleep(settings.pollInterval), poll)))
    // A commit that sets timers wakes the timer loop at once.
    yield* FiberSet.run(
      fibers,
      Effect.iterate(firstWait, {
        while: () => true,
        body: (wait) => Effect.zipRight(Effect.raceFirst(Effect.sleep(wait), Queue.take(timersChanged)), timerStep)
      })
    )
    yield* FiberSet.run(fibers, Retention.run(store, settings.retention))
    // PostgreSQL: keep this instance's holds on the chats it handles (a commit renews a chat's hold too),
    // and pick up at once the events other instances accept for them.
    if (store.dialect === "pg") {
      yield* FiberSet.run(
        fibers,
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const until = now + leaseMillis
          const renewed = new Set(yield* store.renewChats(settings.owner, now, until))
          for (const [chat, session] of worker.held) if (renewed.has(chat)) session.leaseUntil = until
        }).pipe(
          Effect.catchAllCause((cause) => Effect.logError("renewing the chats' holds failed", cause)),
          Effect.delay(Duration.millis(leaseMillis / 4)),
          Effect.forever
        )
      )
    }
    if (store.wakeUps !== undefined) {
      yield* FiberSet.run(
        fibers,
        store.wakeUps.pipe(
          Stream.runForEach((chat) =>
            pending.active(chat)
              ? Effect.map(store.chatPending(chat), (entries) => pending.add(entries))
              : Effect.void
          ),
          Effect.catchAllCause((cause) => Effect.logError("listening for wake-ups failed; polling meanwhile", cause)),
          Effect.zipRight(Effect.sleep(settings.pollInterval)),
          Effect.forever
        )
      )
    }
    // Each worker takes the next chat that has events, for as long as the engine runs. (A loop with no
    // yield between chats, unlike `Effect.forever`: the runtime still yields every 2,048 operations.)
    for (let i = 0; i < settings.concurrency; i++) {
      yield* FiberSet.run(
        fibers,
        Effect.whileLoop({
          while: () => true,
          body: () =>
            Queue.take(ready).pipe(
              Effect.flatMap((chat) => Worker.runChat(worker, chat)),
              Effect.catchAllCause((cause) => Effect.logError("chat worker failed", cause))
            ),
          step: () => {}
        })
      )
    }
    // A displaced engine stops: its workers end, and the engine that took the database goes on.
    yield* Deferred.await(displaced).pipe(
      Effect.zipRight(Effect.logError("the engine stopped: another engine took its database")),
      Effect.zipRight(FiberSet.clear(fibers)),
      Effect.forkScoped
    )
    // Added last, so it runs first when the scope closes: before the workers are interrupted.
    yield* Effect.addFinalizer(() => drain)
  })
