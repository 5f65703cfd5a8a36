import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HttpBody from "effect/http/HttpBody"
import * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientError from "effect/http/HttpClientError"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Result from "effect/Result"
import type * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaParser from "effect/SchemaParser"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as HttpTransport from "../HttpTransport.js"
import type * as Message from "../Message.js"
import * as MessagingError from "../MessagingError.js"
import * as Retry from "../Retry.js"

const MAX_REASON = 300

/** @internal */
export const describe = (body: unknown): string => {
  const pick = (u: unknown): string | undefined => {
    if (typeof u === "string") return u
    if (!Predicate.isObject(u)) return undefined
    for (const key of ["message", "error", "detail", "error_description", "title"]) {
      const value = u[key]
      if (typeof value === "string" && value.length > 0) return value
      if (Predicate.isObject(value)) {
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

/** `{ retryAfter }` when the answer carries one, to spread into a `RateLimited`. @internal */
export const retryAfterField = (answer: HttpTransport.Answer) =>
  Option.match(answer.retryAfter, { onNone: () => ({}), onSome: (retryAfter) => ({ retryAfter }) })

/** @internal */
export const classifyStatus = (answer: HttpTransport.Answer): MessagingError.MessagingError => {
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
    case 402:
    case 403:
      return new MessagingError.Unauthorized({ provider, status, reason })
    case 408:
    case 504:
      return new MessagingError.DeliveryUnknown({ provider, reason: `gateway timeout (${status}): ${reason}` })
    case 429:
      return new MessagingError.RateLimited({ provider, status, reason, ...retryAfterField(answer) })
    default:
      return new MessagingError.ProviderUnavailable({ provider, status, reason })
  }
}

/** @internal */
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

/** @internal */
export const classifyRequestError = (
  provider: string,
  error: HttpClientError.RequestError
): MessagingError.MessagingError => {
  if (error._tag === "InvalidUrlError") {
    return new MessagingError.ProviderUnavailable({
      provider,
      reason: "invalid request URL: check the baseUrl setting"
    })
  }
  if (error._tag === "EncodeError") {
    return new MessagingError.InvalidMessage({ provider, field: "body", reason: "could not be encoded" })
  }
  const codes = errorCodes(error.cause)
  const refused = codes.find((c) => notConnected.has(c))
  return refused !== undefined
    ? new MessagingError.ProviderUnavailable({ provider, reason: `cannot connect (${refused})` })
    : new MessagingError.DeliveryUnknown({
      provider,
      reason: `connection lost after the request was sent (${codes[0] ?? "unknown"})`
    })
}

/** @internal */
export const parseBody = (text: string): unknown => {
  if (text.length === 0) return undefined
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()
const formatIssue = SchemaIssue.makeFormatterDefault()

const firstIssue = (error: SchemaIssue.Issue) => {
  const [issue] = formatIssues(error).issues
  const path = issue?.path ?? []
  return { field: path.length > 0 ? path.join(".") : "body", reason: issue?.message ?? "invalid" }
}

interface Compiled<A, R> {
  readonly encode: ((body: A) => Result.Result<unknown, SchemaIssue.Issue>) | undefined
  readonly decode: (u: unknown) => Result.Result<R, SchemaIssue.Issue>
}

/** @internal */
export const endpoint = <A = void, I = void, R = unknown, RI = unknown>(
  options: HttpTransport.Endpoint<A, I, R, RI>
): HttpTransport.Endpoint<A, I, R, RI> => options

// Encoders and decoders are derived once per endpoint, not per request.
const compiled = new WeakMap<HttpTransport.Endpoint<any, any, any, any>, Compiled<any, any>>()
const compile = <A, I, R, RI>(endpoint: HttpTransport.Endpoint<A, I, R, RI>): Compiled<A, R> => {
  let found = compiled.get(endpoint)
  if (found === undefined) {
    found = {
      encode: endpoint.request === undefined ? undefined : SchemaParser.encodeResult(endpoint.request),
      decode: SchemaParser.decodeUnknownResult(endpoint.response)
    }
    compiled.set(endpoint, found)
  }
  return found
}

// The platform's span is off for a transport's request: each request is an event on the send's span
// instead (see `record`).
const quiet = () => true

/** @internal */
export const make = (
  options: HttpTransport.Options
): Effect.Effect<HttpTransport.HttpTransport, never, HttpClient.HttpClient> =>
  Effect.map(Effect.zip(HttpClient.HttpClient, Clock.Clock), ([platformClient, clock]) => {
    const { classify, provider } = options
    const baseUrl = options.baseUrl.replace(/\/+$/, "")
    const authorize = options.authorize ?? ((request: HttpClientRequest.HttpClientRequest) => request)
    const timeout = Duration.fromInputUnsafe(options.timeout ?? "30 seconds")
    const timeoutMillis = Duration.toMillis(timeout)
    // Requests are tied to a scope that the deadline closes, which aborts them (see `run`), and are
    // recorded as events on the current span rather than as the platform's span (see `record`), which is
    // turned off for each request (about 0.2 µs, where Effect 3's `Effect.locally` cost 7% of a send).
    const client = HttpClient.withScope(platformClient)
    const perform = (request: HttpClientRequest.HttpClientRequest) =>
      Effect.provideService(client.execute(request), HttpClient.TracerDisabledWhen, quiet)
    const onTimeout = () =>
      new MessagingError.DeliveryUnknown({ provider, reason: `no answer within ${Duration.format(timeout)}` })

    const read = (response: HttpClientResponse.HttpClientResponse, chat: string | undefined) =>
      Effect.map(Effect.orElseSucceed(response.text, () => ""), (text): HttpTransport.Answer => {
        const headers = response.headers
        const retryAfter = headers["retry-after"]
        return {
          provider,
          status: response.status,
          headers,
          body: parseBody(text),
          retryAfter: retryAfter === undefined
            ? Option.none()
            : Retry.parseRetryAfter(retryAfter, clock.currentTimeMillisUnsafe()),
          chat
        }
      })

    const conclude = <A>(
      answer: HttpTransport.Answer,
      decode: (u: unknown) => Result.Result<A, SchemaIssue.Issue>
    ): Effect.Effect<A, MessagingError.MessagingError> => {
      const specific = classify?.(answer)
      if (specific) return Effect.fail(specific)
      if (answer.status < 200 || answer.status >= 300) return Effect.fail(classifyStatus(answer))
      const decoded = decode(answer.body)
      return Result.isSuccess(decoded) ? Effect.succeed(decoded.success) : Effect.fail(
        new MessagingError.DeliveryUnknown({
          provider,
          reason: `accepted (${answer.status}) but the answer was not understood: ${
            formatIssue(decoded.failure).slice(0, MAX_REASON)
          }`
        })
      )
    }

    // Each request is an `http.request` event on the current span (the send's): method, path (never
    // the query string or headers, which may carry keys), status or error, and duration. A span per
    // request, as the platform makes, costs as much CPU as the rest of Parley's send.
    const record = <A, E>(
      request: HttpClientRequest.HttpClientRequest,
      path: string,
      started: bigint,
      outcome: { readonly "http.response.status_code": number } | { readonly "error.type": string },
      next: Effect.Effect<A, E>
    ) =>
      Effect.withFiber<A, E>((fiber) => {
        const span = fiber.cache.span
        if (span !== undefined && span._tag === "Span") {
          const now = clock.currentTimeNanosUnsafe()
          span.event("http.request", now, {
            "http.request.method": request.method,
            "url.path": path,
            "parley.provider": provider,
            "http.duration_ms": Number(now - started) / 1e6,
            ...outcome
          })
        }
        return next
      })

    // The deadline is wall-clock time (it bounds real network I/O). It closes the request's scope, which
    // aborts it: no fiber is forked per request, where `Effect.timeout` races two.
    const run = <A>(
      request: HttpClientRequest.HttpClientRequest,
      path: string,
      decode: (u: unknown) => Result.Result<A, SchemaIssue.Issue>,
      chat: string | undefined
    ): Effect.Effect<A, MessagingError.MessagingError> =>
      Effect.suspend(() => {
        const scope = Scope.makeUnsafe()
        const close = () => Scope.closeUnsafe(scope, Exit.void) ?? Effect.void
        const started = clock.currentTimeNanosUnsafe()
        let timedOut = false
        const timer = setTimeout(() => {
          timedOut = true
          Effect.runFork(close())
        }, timeoutMillis)
        return perform(request).pipe(
          Effect.flatMap((response) => read(response, chat)),
          Scope.provide(scope),
          Effect.matchEffect({
            onFailure: (error) => {
              clearTimeout(timer)
              const { reason } = error
              const failure = timedOut
                ? onTimeout()
                : reason._tag === "TransportError" || reason._tag === "EncodeError" || reason._tag === "InvalidUrlError"
                ? classifyRequestError(provider, reason)
                : new MessagingError.DeliveryUnknown({ provider, reason: "the response could not be read" })
              return record(request, path, started, { "error.type": failure._tag }, Effect.fail(failure))
            },
            onSuccess: (answer) => {
              clearTimeout(timer)
              return timedOut
                ? record(request, path, started, { "error.type": "DeliveryUnknown" }, Effect.fail(onTimeout()))
                : record(
                  request,
                  path,
                  started,
                  { "http.response.status_code": answer.status },
                  conclude(answer, decode)
                )
            }
          }),
          Effect.onInterrupt(() => {
            clearTimeout(timer)
            return close()
          })
        )
      })

    const prepare = (request: HttpClientRequest.HttpClientRequest) =>
      authorize(HttpClientRequest.acceptJson(HttpClientRequest.prependUrl(request, baseUrl)))

    // Each endpoint's request, with the base URL, credentials and `accept` applied once.
    const prepared = new WeakMap<HttpTransport.Endpoint<any, any, any, any>, HttpClientRequest.HttpClientRequest>()
    const requestOf = (endpoint: HttpTransport.Endpoint<any, any, any, any>) => {
      let found = prepared.get(endpoint)
      if (found === undefined) {
        found = prepare(HttpClientRequest.make(endpoint.method)(endpoint.path))
        prepared.set(endpoint, found)
      }
      return found
    }

    const call = <A, I, R, RI>(
      endpoint: HttpTransport.Endpoint<A, I, R, RI>,
      body: A,
      context?: HttpTransport.CallContext
    ): Effect.Effect<R, MessagingError.MessagingError> => {
      const { decode, encode } = compile(endpoint)
      const base = requestOf(endpoint)
      const path = context?.path ?? endpoint.path
      const request = context?.path === undefined ? base : HttpClientRequest.setUrl(base, `${baseUrl}${path}`)
      if (encode === undefined) return run(request, path, decode, context?.chat)
      const encoded = encode(body)
      if (Result.isFailure(encoded)) {
        return Effect.fail(new MessagingError.InvalidMessage({ provider, ...firstIssue(encoded.failure) }))
      }
      return run(
        HttpClientRequest.setBody(request, HttpBody.text(JSON.stringify(encoded.success), "application/json")),
        path,
        decode,
        context?.chat
      )
    }

    const execute = <A, I>(
      request: HttpClientRequest.HttpClientRequest,
      success: Schema.Codec<A, I>,
      context?: HttpTransport.CallContext
    ) => run(prepare(request), request.url, SchemaParser.decodeUnknownResult(success), context?.chat)

    return { provider, call, execute }
  })

// The URL without its query string, which may carry a signature: errors name where, not how.
const where = (url: string) => {
  const parsed = new URL(url)
  return `${parsed.origin}${parsed.pathname}`
}

// A failure's kind: its reason's tag without the `Error` suffix (`Transport`, `StatusCode`, …).
const reasonName = (tag: string) => tag.endsWith("Error") ? tag.slice(0, -5) : tag

// The error code a transport failure carries (`ECONNREFUSED`, …), itself or in its causes.
const causeCode = (u: unknown, depth = 0): string | undefined => {
  if (!Predicate.isObject(u) || depth > 5) return undefined
  if (Predicate.hasProperty(u, "code") && typeof u.code === "string") return u.code
  return Predicate.hasProperty(u, "cause") ? causeCode(u.cause, depth + 1) : undefined
}

interface Download {
  readonly size: number
  readonly chunks: Array<Uint8Array>
}

/** @internal */
export const fetchMedia = (
  client: HttpClient.HttpClient,
  message: Message.MediaMessage,
  options: HttpTransport.FetchOptions
): Effect.Effect<Uint8Array, MessagingError.MessagingError> => {
  const { limit, provider } = options
  const at = where(message.url)
  const invalid = (reason: string) =>
    new MessagingError.InvalidMessage({ provider, field: "url", reason: `media at ${at} ${reason}` })
  const unavailable = (reason: string, status?: number) =>
    new MessagingError.ProviderUnavailable({
      provider,
      reason: `media at ${at} ${reason}`,
      ...(status === undefined ? {} : { status })
    })
  const tooBig = (size: number, exact: boolean) =>
    options.tooLarge({ at, described: exact ? `is ${size} bytes` : `is more than ${size} bytes`, size, exact })
  const read = (response: HttpClientResponse.HttpClientResponse) => {
    const { status } = response
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      return Effect.fail(invalid(`could not be fetched: the host answered ${status}`))
    }
    if (status < 200 || status >= 300) {
      return Effect.fail(unavailable(`could not be fetched: the host answered ${status}`, status))
    }
    const declared = Number(response.headers["content-length"])
    if (declared > limit) return Effect.fail(tooBig(declared, true))
    return response.stream.pipe(
      Stream.runFoldEffect(
        (): Download => ({ size: 0, chunks: [] }),
        (acc, chunk): Effect.Effect<Download, MessagingError.MessagingError> => {
          const size = acc.size + chunk.length
          if (size > limit) return Effect.fail(tooBig(limit, false))
          acc.chunks.push(chunk)
          return Effect.succeed({ size, chunks: acc.chunks })
        }
      ),
      Effect.map(({ chunks, size }) => {
        const bytes = new Uint8Array(size)
        let offset = 0
        for (const chunk of chunks) {
          bytes.set(chunk, offset)
          offset += chunk.length
        }
        return bytes
      })
    )
  }
  const transportFailure = (error: HttpClientError.HttpClientError) => {
    const code = causeCode(error.cause)
    return Effect.fail(
      unavailable(`could not be fetched (${reasonName(error.reason._tag)}${code ? `: ${code}` : ""})`)
    )
  }
  const timeout = Duration.fromInputUnsafe(options.timeout ?? "30 seconds")
  // The response is tied to a scope of its own, closed when the download ends: a body left unread (media
  // over the limit) is aborted then.
  return HttpClient.withScope(HttpClient.followRedirects(client, 5)).get(message.url).pipe(
    Effect.flatMap(read),
    Effect.scoped,
    Effect.catchTag("HttpClientError", transportFailure),
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () => Effect.fail(unavailable(`did not arrive within ${Duration.format(timeout)}`))
    })
  )
}

/** @internal */
export const multipart = (
  fields: Readonly<Record<string, string | undefined>>,
  file: { readonly field: string; readonly bytes: Uint8Array; readonly type: string; readonly name: string }
): Effect.Effect<HttpBody.HttpBody> =>
  Effect.suspend(() => {
    const form = new FormData()
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined) form.append(key, value)
    }
    form.append(file.field, new Blob([file.bytes], { type: file.type }), file.name)
    const encoded = new Response(form)
    return Effect.map(
      Effect.promise(() => encoded.arrayBuffer()),
      (buffer) => HttpBody.uint8Array(new Uint8Array(buffer), encoded.headers.get("content-type") ?? undefined)
    )
  })
