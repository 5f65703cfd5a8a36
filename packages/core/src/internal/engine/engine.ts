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
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Bot from "../../Bot.js"
import type * as MessagingService from "../../MessagingService.js"
import * as Handle from "./handle.js"
import { Pending } from "./pending.js"
import type * as Store from "./store.js"
import * as Worker from "./worker.js"

/** @internal */
export interface Settings {
  readonly concurrency: number
  readonly pollInterval: Duration.Duration
  readonly lease: Duration.Duration
  readonly retry: Schedule.Schedule<unknown, unknown>
  readonly window: Duration.Duration
  readonly owner: string
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

    const { handle } = Handle.make({
      bot,
      routes,
      messaging: options.messaging,
      store,
      context: options.context,
      window: Duration.toMillis(settings.window)
    })
    const worker: Worker.Worker = {
      store,
      pending,
      handle,
      retry: settings.retry,
      owner: settings.owner,
      leaseMillis,
      timersChanged: Queue.offer(timersChanged, undefined),
      displaced: Deferred.succeed(displaced, undefined)
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

    const engine = Effect.gen(function*() {
      // SQLite serves one engine: take the database's hold first (waiting while another live engine
      // has it), and keep it renewed: every poll interval or a third of the lease, whichever is longer
      // (a hold lasts three renewals, so an engine that stops is replaced within that).
      if (store.dialect === "sqlite") {
        const renewMillis = Math.max(pollMillis, leaseMillis / 3)
        const held = yield* store.holdEngine(settings.owner, 3 * renewMillis).pipe(
          Effect.tapError((error) => Effect.logWarning(`${error.message}; waiting`)),
          Effect.retry(Schedule.spaced(Duration.millis(renewMillis))),
          Effect.orDie
        )
        yield* held.renew.pipe(
          Effect.flatMap((still) => still ? Effect.void : Deferred.succeed(displaced, undefined)),
          Effect.catchAllCause((cause) => Effect.logError("renewing the engine's hold failed", cause)),
          Effect.delay(Duration.millis(renewMillis)),
          Effect.forever,
          Effect.forkScoped
        )
      }
      yield* poll
      yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(settings.pollInterval), poll)))
      // Sleeps until the next timer is due (at most a poll interval, for timers other instances add);
      // a commit that sets timers wakes it at once.
      yield* Effect.gen(function*() {
        yield* fireTimers
        const now = yield* Clock.currentTimeMillis
        const next = yield* Effect.orElseSucceed(store.nextTimerAt, () => Option.none<number>())
        const wait = Option.match(next, {
          onNone: () => pollMillis,
          onSome: (at) => Math.min(Math.max(at - now, 0), pollMillis)
        })
        yield* Effect.raceFirst(Effect.sleep(wait), Queue.take(timersChanged))
      }).pipe(Effect.forever, Effect.forkScoped)
      for (let i = 0; i < settings.concurrency; i++) {
        yield* Queue.take(ready).pipe(
          Effect.flatMap((chat) => Worker.runChat(worker, chat)),
          Effect.catchAllCause((cause) => Effect.logError("chat worker failed", cause)),
          Effect.forever,
          Effect.forkScoped
        )
      }
      return yield* Deferred.await(displaced)
    })

    // A displaced engine stops: its workers end, and the engine that took the database goes on.
    yield* engine.pipe(
      Effect.scoped,
      Effect.zipRight(Effect.logError("the engine stopped: another engine took its database")),
      Effect.forkScoped
    )
  })
