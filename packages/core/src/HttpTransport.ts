/**
 * The HTTP mechanics every provider shares: run a request with a timeout, tell "never sent"
 * (connection refused: safe to retry) from "maybe sent" (reset or timeout after the request was
 * written), read the body once, and map statuses and error bodies to `MessagingError`s. A provider
 * adds only what is its own: a classifier for its error bodies and the `Schema` of its success body.
 *
 * Error reasons are built from status and body text, never from the request, so keys carried in a
 * URL or header cannot leak into an error message.
 *
 * @since 0.1.0
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as MessagingError from "./MessagingError.js"
import * as Retry from "./Retry.js"

/**
 * A provider's answer, as classifiers see it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Answer {
  readonly provider: string
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  /** The body as JSON when it parses, else the text. */
  readonly body: unknown
  /** `Retry-After`, parsed (seconds or HTTP date). */
  readonly retryAfter: Option.Option<Duration.Duration>
  /** The chat the request was for, to name it in errors. */
  readonly chat: string | undefined
}

/**
 * A provider-specific reading of an answer: an error, or `undefined` to fall back to
 * {@link classifyStatus} (for non-2xx) or to success decoding (for 2xx). Classifiers see 2xx answers
 * too, for providers that report failures inside a 200 body.
 *
 * @since 0.1.0
 * @category models
 */
export type Classifier = (answer: Answer) => MessagingError.MessagingError | undefined

const MAX_REASON = 300

/**
 * A short human reason from an error body: the first of `message`, `error` (string or
 * `{ message }`), `errors[0]`, `detail`, else the text itself, trimmed to 300 characters.
 *
 * @since 0.1.0
 * @category classification
 */
export const describe = (body: unknown): string => {
  const pick = (u: unknown): string | undefined => {
    if (typeof u === "string") return u
    if (!Predicate.isRecord(u)) return undefined
    for (const key of ["message", "error", "detail", "error_description", "title"]) {
      const value = u[key]
      if (typeof value === "string" && value.length > 0) return value
      if (Predicate.isRecord(value)) {
        const nested = pick(value)
        if (nested) return nested
      }
    }
    if (Array.isArray(u.errors) && u.errors.length > 0) return pick(u.errors[0])
    return undefined
  }
  const text = pick(body) ?? (body === undefined || body === "" ? "no body" : JSON.stringify(body))
  return text.length > MAX_REASON ? `${text.slice(0, MAX_REASON)}…` : text
}

/**
 * The default reading of a non-2xx status: 400/404/413/415/422 → `InvalidMessage`, 401/403 →
 * `Unauthorized`, 408/504 → `DeliveryUnknown`, 429 → `RateLimited` (with `Retry-After`), other 5xx →
 * `ProviderUnavailable`, anything else → `ProviderUnavailable`.
 *
 * @since 0.1.0
 * @category classification
 */
export const classifyStatus = (answer: Answer): MessagingError.MessagingError => {
  const { provider, status } = answer
  const reason = describe(answer.body)
  switch (status) {
    case 400:
    case 404:
    case 413:
    case 415:
    case 422:
      return new MessagingError.InvalidMessage({
        provider,
        field: "body",
        reason: `rejected (${status}): ${reason}`,
        status
      })
    case 401:
    case 403:
      return new MessagingError.Unauthorized({ provider, status, reason })
    case 408:
    case 504:
      return new MessagingError.DeliveryUnknown({ provider, reason: `gateway timeout (${status}): ${reason}` })
    case 429:
      return new MessagingError.RateLimited({
        provider,
        status,
        reason,
        ...Option.match(answer.retryAfter, { onNone: () => ({}), onSome: (retryAfter) => ({ retryAfter }) })
      })
    default:
      return new MessagingError.ProviderUnavailable({ provider, status, reason })
  }
}

/**
 * How providers word "this number is not on WhatsApp" in error bodies (inferred from several APIs),
 * for classifiers that map it to `RecipientUnavailable`.
 *
 * @since 0.1.0
 * @category classification
 */
export const notOnWhatsApp: RegExp =
  /not (on|registered (on|with|in)|a valid|a) whatsapp|not exist on whatsapp|no whatsapp account|not a whatsapp user/i

// Failures that prove the request never reached the server: safe to retry and to fail over.
const notConnected = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT"
])

const errorCodes = (u: unknown, depth = 0): ReadonlyArray<string> => {
  if (!Predicate.isObject(u) || depth > 5) return []
  const own = Predicate.hasProperty(u, "code") && typeof u.code === "string" ? [u.code] : []
  const nested = Predicate.hasProperty(u, "errors") && Array.isArray(u.errors)
    ? u.errors.flatMap((e: unknown) => errorCodes(e, depth + 1))
    : []
  const cause = Predicate.hasProperty(u, "cause") ? errorCodes(u.cause, depth + 1) : []
  return [...own, ...nested, ...cause]
}

/**
 * Maps a transport failure: connection refused (and friends) → `ProviderUnavailable`; a reset or
 * close after connecting → `DeliveryUnknown`, as the request may have been written.
 *
 * @since 0.1.0
 * @category classification
 */
export const classifyRequestError = (
  provider: string,
  error: HttpClientError.RequestError
): MessagingError.MessagingError => {
  if (error.reason === "InvalidUrl") {
    return new MessagingError.ProviderUnavailable({
      provider,
      reason: "invalid request URL: check the baseUrl setting"
    })
  }
  if (error.reason === "Encode") {
    return new MessagingError.InvalidMessage({ provider, field: "body", reason: "could not be encoded" })
  }
  const codes = errorCodes(error.cause)
  const code = codes[0] ?? "unknown"
  return codes.some((c) => notConnected.has(c))
    ? new MessagingError.ProviderUnavailable({
      provider,
      reason: `cannot connect (${codes.find((c) => notConnected.has(c))})`
    })
    : new MessagingError.DeliveryUnknown({ provider, reason: `connection lost after the request was sent (${code})` })
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly provider: string
  /** A client with the provider's base URL and auth already applied. */
  readonly client: HttpClient.HttpClient
  readonly classify?: Classifier | undefined
  /** How long to wait for an answer before `DeliveryUnknown` (default 30 s). */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * Query parameters that carry secrets (an API key in the URL). The platform's HTTP span, which
   * records the full URL, is replaced for such requests by one that records only the method and path.
   */
  readonly secretQueryParams?: ReadonlyArray<string> | undefined
  /** Header names that carry secrets, besides `authorization`, `cookie` and `x-api-key`. */
  readonly secretHeaders?: ReadonlyArray<string> | undefined
}

/**
 * Runs provider requests.
 *
 * @since 0.1.0
 * @category models
 */
export interface HttpTransport {
  readonly execute: <A, I>(
    request: HttpClientRequest.HttpClientRequest,
    success: Schema.Schema<A, I>,
    context?: { readonly chat?: string | undefined }
  ) => Effect.Effect<A, MessagingError.MessagingError>
}

/**
 * A body as JSON when it parses, else the text itself (`undefined` when empty).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseBody = (text: string): unknown => {
  if (text.length === 0) return undefined
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): HttpTransport => {
  const { classify, provider } = options
  const timeout = Duration.decode(options.timeout ?? "30 seconds")
  const secretParams = new Set((options.secretQueryParams ?? []).map((p) => p.toLowerCase()))
  const carriesSecret = (request: HttpClientRequest.HttpClientRequest) =>
    request.urlParams.some(([key]) => secretParams.has(key.toLowerCase()))
  const client = secretParams.size === 0
    ? options.client
    : HttpClient.withTracerDisabledWhen(options.client, carriesSecret)
  const secretHeaders = (options.secretHeaders ?? []).map((h) => h.toLowerCase())
  const redacting = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    secretHeaders.length === 0
      ? effect
      : Effect.locallyWith(effect, Headers.currentRedactedNames, (names) => [...names, ...secretHeaders])
  const traced = <A, E, R>(request: HttpClientRequest.HttpClientRequest, effect: Effect.Effect<A, E, R>) =>
    secretParams.size === 0 ? effect : Effect.withSpan(effect, `http.client ${request.method}`, {
      kind: "client",
      attributes: { "http.request.method": request.method, "url.path": request.url, "parley.provider": provider }
    })

  const read = (response: HttpClientResponse.HttpClientResponse, chat: string | undefined) =>
    Effect.gen(function*() {
      const text = yield* Effect.orElseSucceed(response.text, () => "")
      const now = yield* Clock.currentTimeMillis
      return {
        provider,
        status: response.status,
        headers: response.headers,
        body: parseBody(text),
        retryAfter: Retry.parseRetryAfter(response.headers["retry-after"], now),
        chat
      } satisfies Answer
    })

  const execute = <A, I>(
    request: HttpClientRequest.HttpClientRequest,
    success: Schema.Schema<A, I>,
    context?: { readonly chat?: string | undefined }
  ): Effect.Effect<A, MessagingError.MessagingError> => {
    const decode = Schema.decodeUnknownEither(success)
    return client.execute(request).pipe(
      Effect.flatMap((response) => read(response, context?.chat)),
      redacting,
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () =>
          new MessagingError.DeliveryUnknown({ provider, reason: `no answer within ${Duration.format(timeout)}` })
      }),
      Effect.catchTag("RequestError", (error) => Effect.fail(classifyRequestError(provider, error))),
      Effect.catchTag(
        "ResponseError",
        () => Effect.fail(new MessagingError.DeliveryUnknown({ provider, reason: "the response could not be read" }))
      ),
      Effect.flatMap((answer) => {
        const specific = classify?.(answer)
        if (specific) return Effect.fail(specific)
        if (answer.status < 200 || answer.status >= 300) return Effect.fail(classifyStatus(answer))
        return Either.match(decode(answer.body), {
          onRight: Effect.succeed,
          onLeft: (error) =>
            Effect.fail(
              new MessagingError.DeliveryUnknown({
                provider,
                reason: `accepted (${answer.status}) but the answer was not understood: ${
                  ParseResult.TreeFormatter.formatErrorSync(error).slice(0, MAX_REASON)
                }`
              })
            )
        })
      }),
      (effect) => traced(request, effect)
    )
  }

  return { execute }
}
