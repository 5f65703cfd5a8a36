/**
 * A chat's worker: takes the chat's events one at a time, in order. It opens the chat once (reading its
 * row, and taking it for this instance where several share the database: `coordination.ts`) and carries
 * the session from event to event; for each event it runs the handler (`handle.ts`), retried by the bot's
 * policy, then commits what the event changed together with the event's inbox mark. A handler that keeps
 * failing gets its event parked as a dead letter, with its sends recorded and its dialog ended; a database
 * that fails is retried until it answers, and never costs an event.
 *
 * The order of writes and sends: a handler's sends happen while it runs, and its journal entries and
 * the event's inbox mark are written after, in one commit. A crash between a send and that commit
 * handles the event again and repeats the send (the providers take no idempotency key); it cannot
 * lose the event or skip a step.
 *
 * How an event ends ({@link Handled}): committed; or this instance no longer holds the chat (`lost`: the
 * handler was stopped, or its commit refused, and the chat's new holder handles the event); or another
 * engine took the whole database (`displaced`: this engine stops).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { isSqlError, type SqlError } from "effect/sql/SqlError"
import * as Tracer from "effect/Tracer"
import * as Metrics from "../../Metrics.js"
import * as Retrying from "../retry.js"
import * as ChatKey from "./chatKey.js"
import * as Coordination from "./coordination.js"
import type * as Handle from "./handle.js"
import type { Pending } from "./pending.js"
import type { Session } from "./session.js"
import type * as Store from "./store.js"

/** What a chat's worker works with. @internal */
export interface Worker {
  readonly store: Store.Service
  /** The pending events, per chat. */
  readonly pending: Pending
  /** How this database's chats are taken, ordered, kept and let go of. */
  readonly chats: Coordination.Chats
  readonly handle: Handle.Handle
  /** Retries of a failing handler before its event is dead-lettered. */
  readonly retry: Schedule.Schedule<unknown, unknown>
  /** The engine's clock (read directly: a `Clock.currentTimeMillis` is two effects each time). */
  readonly clock: Clock.Clock
  readonly engine: {
    /** Whether the engine is stopping: a worker finishes its current event and takes no other. */
    readonly stopping: () => boolean
    /** Counts the workers serving a chat, for a stop that waits for them. */
    readonly enter: () => void
    readonly leave: Effect.Effect<unknown>
    /** Another engine took the database while this one was paused: stops this engine. */
    readonly displaced: Effect.Effect<void>
    /**
     * Puts the chat back at the end of the queue of chats waiting for a worker, if any chat is waiting;
     * whether it did.
     */
    readonly requeue: (chat: string) => boolean
    /** Called after a commit that set timers, with the earliest: the timers' sleep is re-armed if it is sooner. */
    readonly timersChanged: (at: number) => Effect.Effect<void>
  }
}

/** How an event ended. @internal */
export type Handled = "committed" | "lost" | "displaced"

// A database that fails is retried until it answers: quickly at first, then every 5 seconds.
const databaseRetry = Schedule.min([Schedule.exponential("50 millis"), Schedule.spaced("5 seconds")])

// A run that succeeds costs nothing more: the logging and the retries start at its first database error.
// The schedule never ends, so no database error gets past it.
const untilDatabaseAnswers = <A, E>(
  effect: Effect.Effect<A, E | SqlError>,
  what: string
): Effect.Effect<A, Exclude<E, SqlError>> =>
  Retrying.afterFailure(effect, {
    schedule: databaseRetry,
    while: isSqlError,
    onFailure: (error) => Effect.logError(`${what} failed; retrying`, error)
  }) as Effect.Effect<A, Exclude<E, SqlError>>

// Metrics with attributes, made once per attribute set (`Metric.withAttributes` builds a new metric, whose
// attributes are merged and hashed again on every update).
const taggedMetrics = new Map<string, Metric.Metric<number, any>>()
const tagged = (name: string, metric: Metric.Metric<number, any>, tags: Record<string, string>) => {
  const key = `${name}:${Object.values(tags).join(":")}`
  let found = taggedMetrics.get(key)
  if (found === undefined) {
    found = Metric.withAttributes(metric, tags)
    taggedMetrics.set(key, found)
  }
  return found
}

/** Serves `chat` until its pending events run out (or it is handed back to the queue). @internal */
export const runChat = (worker: Worker, chat: string): Effect.Effect<void> => {
  const { engine, pending } = worker
  // Detached events (a status whose chat the provider did not say) belong to no chat's row.
  const chats = ChatKey.isDetached(chat) ? Coordination.detached(worker.chats.hold) : worker.chats
  // A session kept for this chat (where chats are leased, it is still held by this instance).
  let session: Session | undefined = chats.sessions.take(chat)
  // Whether the session holds only committed state (it does not while an event is being handled).
  let settled = true
  // The head whose gap in the chat's order was already looked up in the database.
  let caughtUp: Store.Entry | undefined
  const loop = Effect.gen(function*() {
    while (!engine.stopping()) {
      const entry = pending.next(chat)
      if (entry === undefined) return
      if (session === undefined) {
        session = yield* untilDatabaseAnswers(chats.open(chat, chats.hold()), `reading ${chat}`)
        if (session === undefined) {
          // Another instance holds the chat: its events are that instance's to handle.
          pending.forget(chat)
          return
        }
      }
      switch (chats.place(session, entry)) {
        case "handled":
          // Another instance handled this event while this one held it in memory (it was read while pending).
          pending.done(chat)
          continue
        case "ahead":
          // An event that another instance accepted comes before this one in the chat's order; the chat's
          // pending events are read once to catch up.
          if (caughtUp !== entry) {
            caughtUp = entry
            pending.add(yield* untilDatabaseAnswers(worker.store.chatPending(chat), `reading ${chat}'s events`))
            continue
          }
      }
      settled = false
      const handled = yield* handleEvent(worker, chats, session, entry)
      if (handled === "displaced") {
        pending.forget(chat)
        return yield* engine.displaced
      }
      if (handled === "lost") {
        yield* Effect.logWarning(`${chat} is now held by another instance; leaving its events to it`)
        pending.forget(chat)
        session = undefined
        return
      }
      settled = true
      pending.done(chat)
      // Fairness: a chat whose next event is already here does not keep its worker while other chats
      // wait for one (it would serve a few busy chats first and leave the rest waiting). Its session is
      // kept for the worker that takes it next; where chats are leased, the chat stays held by this
      // instance meanwhile, its hold renewed with the others'. (The requeue is synchronous: no other worker
      // can take the chat before its session is kept.)
      if (pending.queued(chat) && engine.requeue(chat)) {
        chats.sessions.keep(session)
        session = undefined
        return
      }
    }
  })
  // Events that came meanwhile keep the chat here: handed to a worker again.
  const letGo = Effect.suspend(() =>
    session === undefined
      ? Effect.void
      : Effect.flatMap(chats.close(session, settled), (left) => Effect.sync(() => pending.add(left)))
  )
  // Counted busy from the loop's start to the end of `letGo` (one `ensuring` for both).
  let entered = false
  return Effect.ensuring(
    Effect.suspend(() => {
      entered = true
      engine.enter()
      return loop
    }),
    Effect.suspend(() => entered ? Effect.andThen(letGo, engine.leave) : letGo)
  )
}

/** Handles one event (retrying a failing handler by the bot's policy) and commits it. */
const handleEvent = (
  worker: Worker,
  chats: Coordination.Chats,
  session: Session,
  entry: Store.Entry
): Effect.Effect<Handled> =>
  Effect.gen(function*() {
    const { store } = worker
    const started = worker.clock.currentTimeMillisUnsafe()
    const handled = yield* worker.handle(session, entry).pipe(
      (effect) =>
        Retrying.afterFailure(effect, {
          schedule: worker.retry,
          while: (error) => error._tag === "HandlerFailed",
          // Each failed attempt is counted on the event and logged.
          onFailure: (error) =>
            Effect.andThen(
              untilDatabaseAnswers(store.recordAttempt(entry.id), "recording a failed attempt"),
              Effect.logError(
                `handler failed in ${entry.chat} (event ${entry.id})`,
                (error as Handle.HandlerFailed).cause
              )
            )
        }),
      (effect) => untilDatabaseAnswers(effect, `handling event ${entry.id} of ${entry.chat}`),
      Effect.result
    )
    // The chat's hold lapsed while the handler ran (this instance was paused or cut off): its new holder
    // handles the event; the handler was stopped before sending anything more.
    if (handled._tag === "Failure" && handled.failure._tag === "LeaseLost") return "lost" as const
    const failure = handled._tag === "Failure" && handled.failure._tag === "HandlerFailed"
      ? handled.failure
      : undefined
    const hold = chats.hold()
    const changes = session.changes(entry)
    const write = failure === undefined
      ? store.commit(changes, hold)
      : Effect.gen(function*() {
        const error = Cause.pretty(failure.cause)
        yield* Effect.logError(`event ${entry.id} of ${entry.chat} dead-lettered after retries`, failure.cause)
        session.setDialog(Option.none())
        return yield* store.deadLetter(session.changes(entry), error, hold)
      })
    const written = yield* untilDatabaseAnswers(write, `committing event ${entry.id} of ${entry.chat}`).pipe(
      Effect.as("committed" as const),
      Effect.catchTags({
        LeaseLost: () => Effect.succeed("lost" as const),
        EngineDisplaced: (error) => Effect.as(Effect.logError(error.message), "displaced" as const)
      })
    )
    if (written === "committed") {
      const event = entry.event._tag
      const outcome = failure === undefined ? "handled" : "dead-lettered"
      yield* Metric.update(tagged("events", Metrics.events, { event, outcome }), 1)
      yield* Metric.update(
        tagged("latency", Metrics.handlerLatency, { event }),
        worker.clock.currentTimeMillisUnsafe() - started
      )
      chats.committed(session, entry, hold)
      if (changes.timers.length > 0) {
        let at = Infinity
        for (const timer of changes.timers) at = Math.min(at, timer.fireAt)
        yield* worker.engine.timersChanged(at)
      }
    }
    return written
  }).pipe(
    Effect.withSpan("Bot.handle", {
      attributes: { "parley.chat": entry.chat, "parley.event": entry.event._tag },
      links: linkTo(entry.trace)
    }, { captureStackTrace: false })
  )

// The span of the webhook request that brought the event: its trace ends when the event is stored, and
// the engine's handling of it starts a trace of its own, linked to it.
const linkTo = (trace: string | undefined): ReadonlyArray<Tracer.SpanLink> => {
  if (trace === undefined) return []
  const [traceId, spanId] = trace.split(":")
  if (traceId === undefined || spanId === undefined) return []
  return [{ span: Tracer.externalSpan({ traceId, spanId }), attributes: {} }]
}
