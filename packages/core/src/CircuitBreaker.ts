/**
 * Per-provider health that outlives a single call. After too many failures the breaker opens and
 * callers skip the provider without waiting on it; after a cool-down one probe is let through
 * (half-open), and its outcome closes or re-opens the breaker.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"

/**
 * The public state: `Closed` (calls flow), `Open` (calls are refused until `retryAt`), `HalfOpen` (the
 * cool-down is over: one probe call may go).
 *
 * @since 0.1.0
 * @category models
 */
export type State =
  | { readonly _tag: "Closed" }
  | { readonly _tag: "Open"; readonly since: number; readonly retryAt: number }
  | { readonly _tag: "HalfOpen" }

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Consecutive failures that open the breaker (default 5). */
  readonly consecutiveFailures?: number | undefined
  /**
   * Open when, among the last `window` calls (at least `minimumCalls` of them), the share of failures
   * reaches `threshold` (0..1). Off unless given.
   */
  readonly failureRate?:
    | {
      readonly threshold: number
      readonly window: number
      readonly minimumCalls?: number | undefined
    }
    | undefined
  /** How long the breaker stays open before a probe (default 30 s). */
  readonly cooldown?: Duration.Input | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Counts {
  readonly successes: number
  readonly failures: number
  readonly rejected: number
}

/**
 * Raised by {@link CircuitBreaker.protect} when the breaker refuses a call.
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitOpen extends Schema.TaggedError<CircuitOpen>()("CircuitOpen", {
  retryAt: Schema.Number
}) {
  override get message(): string {
    return `circuit breaker open until ${new Date(this.retryAt).toISOString()}`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreaker {
  /** The current state; an `Open` breaker whose cool-down has passed reads `HalfOpen`. */
  readonly state: Effect.Effect<State>
  /** Every change of state, starting with the current one. */
  readonly changes: Stream.Stream<State>
  /** Calls that succeeded, failed (as counted by `isFailure`), or were refused. */
  readonly counts: Effect.Effect<Counts>
  /** Whether a call would be let through now (without taking the half-open probe). */
  readonly isCallPermitted: Effect.Effect<boolean>
  /**
   * Runs `effect` if the breaker allows it and records its outcome. Failures for which `isFailure`
   * is false (a bad message, say) count as the provider answering, so they do not open the breaker.
   */
  readonly protect: <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    isFailure: (error: E) => boolean
  ) => Effect.Effect<A, E | CircuitOpen, R>
}

interface Internal {
  readonly state: State
  readonly consecutive: number
  readonly recent: ReadonlyArray<boolean>
  readonly probing: boolean
  readonly counts: Counts
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<CircuitBreaker> =>
  Effect.gen(function*() {
    const consecutiveLimit = options.consecutiveFailures ?? 5
    const cooldown = Duration.toMillis(options.cooldown ?? "30 seconds")
    const rate = options.failureRate
    const ref = yield* SubscriptionRef.make<Internal>({
      state: { _tag: "Closed" },
      consecutive: 0,
      recent: [],
      probing: false,
      counts: { successes: 0, failures: 0, rejected: 0 }
    })

    const view = (internal: Internal, now: number): State =>
      internal.state._tag === "Open" && now >= internal.state.retryAt && !internal.probing
        ? { _tag: "HalfOpen" }
        : internal.state

    const shouldOpen = (consecutive: number, recent: ReadonlyArray<boolean>): boolean => {
      if (consecutive >= consecutiveLimit) return true
      if (rate === undefined || recent.length < (rate.minimumCalls ?? rate.window)) return false
      return recent.filter((failed) => failed).length / recent.length >= rate.threshold
    }

    // Decide, atomically, whether a call may start: "call" (closed), "probe" (half-open), or refuse.
    const acquire = (now: number) =>
      SubscriptionRef.modify(ref, (s): [Option.Option<"call" | "probe">, Internal] => {
        if (s.state._tag === "Closed") return [Option.some("call"), s]
        if (s.state._tag === "Open" && now >= s.state.retryAt && !s.probing) {
          return [Option.some("probe"), { ...s, probing: true }]
        }
        return [Option.none(), { ...s, counts: { ...s.counts, rejected: s.counts.rejected + 1 } }]
      })

    const record = (failed: boolean, probe: boolean, now: number) =>
      SubscriptionRef.update(ref, (s): Internal => {
        const counts = failed
          ? { ...s.counts, failures: s.counts.failures + 1 }
          : { ...s.counts, successes: s.counts.successes + 1 }
        const recent = rate ? [...s.recent, failed].slice(-rate.window) : s.recent
        if (probe) {
          return failed
            ? {
              state: { _tag: "Open", since: now, retryAt: now + cooldown },
              consecutive: 0,
              recent,
              probing: false,
              counts
            }
            : { state: { _tag: "Closed" }, consecutive: 0, recent: [], probing: false, counts }
        }
        if (s.state._tag !== "Closed") return { ...s, counts }
        const consecutive = failed ? s.consecutive + 1 : 0
        return shouldOpen(consecutive, recent)
          ? {
            state: { _tag: "Open", since: now, retryAt: now + cooldown },
            consecutive: 0,
            recent: [],
            probing: false,
            counts
          }
          : { ...s, consecutive, recent, counts }
      })

    const releaseProbe = SubscriptionRef.update(ref, (s): Internal => ({ ...s, probing: false }))

    const protect = <A, E, R>(effect: Effect.Effect<A, E, R>, isFailure: (error: E) => boolean) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const permit = yield* acquire(yield* Clock.currentTimeMillis)
          if (Option.isNone(permit)) {
            const s = yield* SubscriptionRef.get(ref)
            return yield* new CircuitOpen({ retryAt: s.state._tag === "Open" ? s.state.retryAt : 0 })
          }
          const probe = permit.value === "probe"
          const exit = yield* Effect.exit(restore(effect))
          const now = yield* Clock.currentTimeMillis
          if (Exit.isSuccess(exit)) {
            yield* record(false, probe, now)
          } else if (Cause.hasInterruptsOnly(exit.cause)) {
            if (probe) yield* releaseProbe
          } else {
            const failed = Option.match(Cause.findErrorOption(exit.cause), { onNone: () => true, onSome: isFailure })
            yield* record(failed, probe, now)
          }
          return yield* exit
        })
      )

    return {
      state: Effect.zipWith(SubscriptionRef.get(ref), Clock.currentTimeMillis, view),
      changes: SubscriptionRef.changes(ref).pipe(
        Stream.map((s) => s.probing ? { _tag: "HalfOpen" as const } : s.state),
        Stream.changesWith((a, b) => a._tag === b._tag)
      ),
      counts: Effect.map(SubscriptionRef.get(ref), (s) => s.counts),
      isCallPermitted: Effect.zipWith(
        SubscriptionRef.get(ref),
        Clock.currentTimeMillis,
        (s, now) => s.state._tag === "Closed" || (s.state._tag === "Open" && now >= s.state.retryAt && !s.probing)
      ),
      protect
    } satisfies CircuitBreaker
  })
