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
import type * as Fiber from "effect/Fiber"
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
    const displaced = yield* Deferred.make<void>()

    const clock = yield* Clock.Clock
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
      timersChanged: (at) => arm(at),
      displaced: Deferred.succeed(displaced, undefined),
      // On SQLite this engine, under its hold, is the only writer of every chat: recent chats' sessions are
      // kept. On PostgreSQL only those of chats handed back to the queue, which this instance holds.
      sessions: new SessionCache(store.dialect === "sqlite" ? sessionCacheSize : Infinity),
      stopping: () => stopping,
      held: new Map(),
      requeue: (chat) => {
        if (Queue.sizeUnsafe(ready) === 0) return false
        Queue.offerUnsafe(ready, chat)
        return true
      }
    }

    // Events are handed over as their enqueue commits; the first poll then finds what was pending.
    yield* Effect.acquireRelease(Effect.sync(() => store.listen((entries) => pending.add(entries))), (stop) =>
      Effect.sync(stop))
    // A chat that retention deleted is read afresh at its next event.
    yield* Effect.acquireRelease(
      Effect.sync(() =>
        store.listenPruned((chats) => worker.sessions.forget(chats))
      ),
      (stop) => Effect.sync(stop)
    )

    const poll = store.poll((id) => pending.has(id), (found) => pending.add(found)).pipe(
      Effect.catchCause((cause) => Effect.logError("inbox poll failed", cause))
    )

    const fireTimers = Effect.gen(function*() {
      const due = yield* store.dueTimers(yield* Clock.currentTimeMillis, 100)
      for (const timer of due) yield* store.fireTimer(timer, yield* Clock.currentTimeMillis)
    }).pipe(Effect.catchCause((cause) => Effect.logError("timer poll failed", cause)))

    // Started before the layer is built, so the engine is up (its hold taken, the inbox read, the
    // next timer known) when the app's layers are; the loops run in a set that a displaced engine stops.
    const fibers = yield* FiberSet.make()

    // The timers: a fiber sleeps until the next timer this engine knows of (at most a poll interval, for
    // timers other instances add), then fires what is due, reads when the next one is, and starts the
    // next sleep. A commit that sets an earlier timer re-arms the sleep itself, with no read: the new
    // sleep starts in the committing worker, before it goes on (so a test clock moved once the commit is
    // seen finds it), and the earlier sleep is interrupted.
    let sleeper: { readonly at: number; fiber: Fiber.Fiber<unknown> | undefined } | undefined
    let stepping = false
    // The earliest timer committed while a step ran (its read may have missed it).
    let committed = Infinity
    const arm = (timer: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (stepping) {
          committed = Math.min(committed, timer)
          return Effect.void
        }
        const now = clock.currentTimeMillisUnsafe()
        const at = Math.min(timer, now + pollMillis)
        if (sleeper !== undefined && sleeper.at <= at) return Effect.void
        const previous = sleeper
        const next: NonNullable<typeof sleeper> = { at, fiber: undefined }
        sleeper = next
        if (previous?.fiber !== undefined) previous.fiber.interruptUnsafe()
        const wake = Effect.suspend(() => {
          if (sleeper !== next) return Effect.void
          sleeper = undefined
          return timerStep
        })
        // (Started at once: the sleep is registered before `FiberSet.run` returns.)
        return Effect.map(
          FiberSet.run(fibers, Effect.andThen(Effect.sleep(Math.max(at - now, 0)), wake)),
          (fiber) => {
            next.fiber = fiber
          }
        )
      })
    // Fires what is due and arms the next sleep. The clock is read once the next timer is known, right
    // before the sleep starts: a clock that moved during the read (a test clock's jump) shortens the
    // sleep instead of being missed.
    const timerStep: Effect.Effect<void> = Effect.gen(function*() {
      stepping = true
      yield* fireTimers
      const next = yield* Effect.orElseSucceed(store.nextTimerAt, () => Option.none<number>())
      stepping = false
      const at = Math.min(Option.getOrElse(next, () => Infinity), committed)
      committed = Infinity
      yield* arm(at)
    })

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
          Effect.catchCause((cause) => Effect.logError("renewing the engine's hold failed", cause)),
          Effect.delay(Duration.millis(renewMillis)),
          Effect.forever
        )
      )
    }
    yield* poll
    yield* timerStep
    yield* FiberSet.run(fibers, Effect.forever(Effect.andThen(Effect.sleep(settings.pollInterval), poll)))
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
          Effect.catchCause((cause) => Effect.logError("renewing the chats' holds failed", cause)),
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
          Effect.catchCause((cause) => Effect.logError("listening for wake-ups failed; polling meanwhile", cause)),
          Effect.andThen(Effect.sleep(settings.pollInterval)),
          Effect.forever
        )
      )
    }
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
    yield* Effect.addFinalizer(() => drain)
  })
