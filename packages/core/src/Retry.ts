/**
 * When to try a provider again: exponential backoff with jitter, bounded in attempts and in total
 * time, that never waits less than the provider's `Retry-After`.
 *
 * Sends are retried on the `MessagingError` a provider's answer was classified as (a `Retry-After` is
 * read into `RateLimited.retryAfter`, whichever status or error body signalled the limit), which is why
 * they use this schedule rather than `HttpClient.retryTransient`, which sees only HTTP answers.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type { MessagingError } from "./MessagingError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The first backoff (default 200 ms). */
  readonly base?: Duration.Input | undefined
  /** The growth factor between backoffs (default 2). */
  readonly factor?: number | undefined
  /** The longest single backoff (default 10 s); a longer `Retry-After` still wins. */
  readonly maxDelay?: Duration.Input | undefined
  /** Retries after the first attempt (default 4). */
  readonly maxRetries?: number | undefined
  /** Total time across retries (default 30 s). A `Retry-After` longer than this stops retrying at once. */
  readonly maxElapsed?: Duration.Input | undefined
  /** Randomise each backoff (0.8 to 1.2 times) to spread retries from many callers (default true). */
  readonly jitter?: boolean | undefined
}

/**
 * The `retryAfter` an error asks for, if any.
 *
 * @since 0.1.0
 * @category accessors
 */
export const retryAfter = (error: MessagingError): Option.Option<Duration.Duration> =>
  error._tag === "RateLimited" ? Option.fromNullishOr(error.retryAfter) : Option.none()

/**
 * A retry schedule for sends. Its input is the error of the failed attempt; each delay is
 * `max(backoff, retryAfter)`. Whether an error may be retried at all is decided separately
 * (`MessagingError.isRetryable`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const schedule = (options: Options = {}): Schedule.Schedule<MessagingError, MessagingError> => {
  const maxElapsed = Duration.fromInputUnsafe(options.maxElapsed ?? "30 seconds")
  // The shorter of the exponential backoff and `maxDelay`, jittered, at most `maxRetries` times within
  // `maxElapsed`.
  const capped = Schedule.min([
    Schedule.exponential(options.base ?? "200 millis", options.factor ?? 2),
    Schedule.spaced(options.maxDelay ?? "10 seconds")
  ])
  const backoff: Schedule.Schedule<Duration.Duration, MessagingError> = Schedule.upTo(
    options.jitter === false ? capped : Schedule.jittered(capped),
    {
      times: options.maxRetries ?? 4,
      duration: maxElapsed
    }
  )
  return Schedule.passthrough(backoff).pipe(
    Schedule.while(({ input }) =>
      Option.match(retryAfter(input), {
        onNone: () => true,
        onSome: (wait) => Duration.isLessThanOrEqualTo(wait, maxElapsed)
      })
    ),
    Schedule.modifyDelay(({ duration, input }) =>
      Effect.succeed(
        Option.match(retryAfter(input), { onNone: () => duration, onSome: (wait) => Duration.max(duration, wait) })
      )
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
