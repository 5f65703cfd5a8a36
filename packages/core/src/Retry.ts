/**
 * When to try a provider again: exponential backoff with jitter, bounded in attempts and in total
 * time, that never waits less than the provider's `Retry-After`.
 *
 * `HttpClient.retryTransient` ignores `Retry-After`, which is why sends use this schedule instead.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type { MessagingError } from "./MessagingError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The first backoff (default 200 ms). */
  readonly base?: Duration.DurationInput | undefined
  /** The growth factor between backoffs (default 2). */
  readonly factor?: number | undefined
  /** The longest single backoff (default 10 s); a longer `Retry-After` still wins. */
  readonly maxDelay?: Duration.DurationInput | undefined
  /** Retries after the first attempt (default 4). */
  readonly maxRetries?: number | undefined
  /** Total time across retries (default 30 s). A `Retry-After` longer than this stops retrying at once. */
  readonly maxElapsed?: Duration.DurationInput | undefined
  /** Randomise each backoff by ±50% to spread retries from many callers (default true). */
  readonly jitter?: boolean | undefined
}

/**
 * The `retryAfter` an error asks for, if any.
 *
 * @since 0.1.0
 * @category accessors
 */
export const retryAfter = (error: MessagingError): Option.Option<Duration.Duration> =>
  error._tag === "RateLimited" ? Option.fromNullable(error.retryAfter) : Option.none()

/**
 * A retry schedule for sends. Its input is the error of the failed attempt; each delay is
 * `max(backoff, retryAfter)`. Whether an error may be retried at all is decided separately
 * (`MessagingError.isRetryable`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const schedule = (options: Options = {}): Schedule.Schedule<MessagingError, MessagingError> => {
  const maxElapsed = Duration.decode(options.maxElapsed ?? "30 seconds")
  const backoff = Schedule.exponential(options.base ?? "200 millis", options.factor ?? 2).pipe(
    Schedule.union(Schedule.spaced(options.maxDelay ?? "10 seconds")),
    (s) => options.jitter === false ? s : Schedule.jittered(s),
    Schedule.intersect(Schedule.recurs(options.maxRetries ?? 4)),
    Schedule.upTo(maxElapsed)
  )
  return Schedule.passthrough(backoff as Schedule.Schedule<unknown, MessagingError>).pipe(
    Schedule.whileInput((error: MessagingError) =>
      Option.match(retryAfter(error), {
        onNone: () => true,
        onSome: (wait) => Duration.lessThanOrEqualTo(wait, maxElapsed)
      })
    ),
    Schedule.modifyDelay((error, delay) =>
      Option.match(retryAfter(error), { onNone: () => delay, onSome: (wait) => Duration.max(delay, wait) })
    )
  )
}

/**
 * The schedule every provider uses unless configured otherwise: 200 ms doubling with jitter, capped at
 * 10 s per wait, at most 4 retries within 30 s, never sooner than `Retry-After`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultSchedule: Schedule.Schedule<MessagingError, MessagingError> = schedule()

/**
 * Parses an HTTP `Retry-After` value: delta-seconds (`120`) or an HTTP date
 * (`Wed, 21 Oct 2026 07:28:00 GMT`), relative to `now` (epoch millis). Dates in the past give zero.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseRetryAfter = (value: string | undefined | null, now: number): Option.Option<Duration.Duration> => {
  if (value === undefined || value === null) return Option.none()
  const trimmed = value.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Option.some(Duration.seconds(Number(trimmed)))
  const at = Date.parse(trimmed)
  if (Number.isNaN(at) || !/[a-z]/i.test(trimmed)) return Option.none()
  return Option.some(Duration.millis(Math.max(0, at - now)))
}
