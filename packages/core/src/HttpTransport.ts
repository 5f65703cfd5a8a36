/**
 * The request helper every provider shares. A provider's Api module declares its {@link Endpoint}s
 * (method, path, and the `Schema`s of the JSON body and of the success answer); {@link make} gives a
 * transport that encodes a body with the endpoint's `Schema` (a value it rejects is `InvalidMessage`,
 * before any I/O), sends it over `HttpClient` with the base URL and credentials applied, waits at most
 * a timeout, reads the answer once, maps statuses and error bodies to `MessagingError`s, and decodes the
 * success body. A provider adds only what is its own: a {@link Classifier} for its error bodies, made
 * from its error table (`ErrorTable.classifier`).
 *
 * Transport failures tell "never sent" (connection refused: safe to retry and to fail over) from
 * "maybe sent" (a reset or timeout after the request was written: `DeliveryUnknown`). The deadline is
 * wall-clock time, as it bounds real network I/O.
 *
 * Tracing: each request is an `http.request` event on the current span (a send's
 * `MessagingService.send`) with the method, the path, the status or error and the duration, instead of
 * the platform's span per request (which costs as much CPU as the rest of a send, and records the full
 * URL and headers). No query string or header is recorded, so keys carried in a URL or header reach
 * neither a trace nor an error message (reasons are built from status and body text).
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as HttpBody from "effect/http/HttpBody"
import type * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientError from "effect/http/HttpClientError"
import type * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpMethod from "effect/http/HttpMethod"
import type * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import * as internal from "./internal/httpTransport.js"
import type * as Message from "./Message.js"
import type * as MessagingError from "./MessagingError.js"

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

/**
 * One of a provider's endpoints: its method and path (a router pattern such as `/chats/:jid/messages`
 * when the path has parameters: the caller then gives the path), the `Schema` of its JSON body (absent
 * for a request without one) and of its success answer. Declared in the provider's Api module, so the
 * client and the emulator share them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Endpoint<A = void, I = void, R = unknown, RI = unknown> {
  readonly method: HttpMethod.HttpMethod
  readonly path: `/${string}`
  readonly request?: Schema.Codec<A, I> | undefined
  readonly response: Schema.Codec<R, RI>
}

/**
 * Declares an endpoint.
 *
 * @since 0.1.0
 * @category constructors
 */
export const endpoint: <A = void, I = void, R = unknown, RI = unknown>(
  options: Endpoint<A, I, R, RI>
) => Endpoint<A, I, R, RI> = internal.endpoint

/**
 * A `POST` endpoint with a JSON body.
 *
 * @example
 * ```ts
 * export const sendText = HttpTransport.post("/sendText", SendTextRequest, MessageResponse)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const post = <A, I, R, RI>(
  path: `/${string}`,
  request: Schema.Codec<A, I>,
  response: Schema.Codec<R, RI>
): Endpoint<A, I, R, RI> => internal.endpoint({ method: "POST", path, request, response })

/**
 * A `PUT` endpoint with a JSON body.
 *
 * @since 0.1.0
 * @category constructors
 */
export const put = <A, I, R, RI>(
  path: `/${string}`,
  request: Schema.Codec<A, I>,
  response: Schema.Codec<R, RI>
): Endpoint<A, I, R, RI> => internal.endpoint({ method: "PUT", path, request, response })

/**
 * A `GET` endpoint.
 *
 * @since 0.1.0
 * @category constructors
 */
export const get = <R, RI>(path: `/${string}`, response: Schema.Codec<R, RI>): Endpoint<void, void, R, RI> =>
  internal.endpoint({ method: "GET", path, response })

/**
 * What a call needs besides its body: the chat it is for (named in errors) and, for an endpoint whose
 * path has parameters, the path itself.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallContext {
  readonly chat?: string | undefined
  readonly path?: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly provider: string
  /** The API's base URL; paths are appended to it. */
  readonly baseUrl: string
  /** Puts the credentials on a request (a bearer token, a header, a query parameter). */
  readonly authorize?:
    | ((request: HttpClientRequest.HttpClientRequest) => HttpClientRequest.HttpClientRequest)
    | undefined
  readonly classify?: Classifier | undefined
  /** How long to wait for an answer before `DeliveryUnknown` (default 30 s). */
  readonly timeout?: Duration.Input | undefined
}

/**
 * Runs provider requests.
 *
 * @since 0.1.0
 * @category models
 */
export interface HttpTransport {
  readonly provider: string
  /** Encodes `body` with the endpoint's request `Schema`, sends it, and decodes the success answer. */
  readonly call: <A, I, R, RI>(
    endpoint: Endpoint<A, I, R, RI>,
    body: A,
    context?: CallContext
  ) => Effect.Effect<R, MessagingError.MessagingError>
  /** Sends a request built by hand (a multipart upload, say), its path relative to the base URL. */
  readonly execute: <A, I>(
    request: HttpClientRequest.HttpClientRequest,
    success: Schema.Codec<A, I>,
    context?: CallContext
  ) => Effect.Effect<A, MessagingError.MessagingError>
}

/**
 * A transport over the `HttpClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<HttpTransport, never, HttpClient.HttpClient> = internal.make

/**
 * A short human reason from an error body: the first of `message`, `error` (string or
 * `{ message }`), `errors[0]`, `detail`, else the text itself, trimmed to 300 characters.
 *
 * @since 0.1.0
 * @category classification
 */
export const describe: (body: unknown) => string = internal.describe

/**
 * The default reading of a non-2xx status: 400/404/413/415/422 → `InvalidMessage`, 401/402/403 →
 * `Unauthorized` (the key, the plan or the account: fail over), 408/504 → `DeliveryUnknown`, 429 →
 * `RateLimited` (with `Retry-After`), anything else → `ProviderUnavailable`. What a provider says beyond
 * its status is its `ErrorTable`.
 *
 * @since 0.1.0
 * @category classification
 */
export const classifyStatus: (answer: Answer) => MessagingError.MessagingError = internal.classifyStatus

/**
 * How providers word "this number is not on WhatsApp" in error bodies (inferred from several APIs),
 * for classifiers that map it to `RecipientUnavailable`.
 *
 * @since 0.1.0
 * @category classification
 */
export const notOnWhatsApp: RegExp = internal.notOnWhatsApp

/**
 * Maps a transport failure (the `reason` of an `HttpClientError` that failed the request): connection
 * refused (and friends) → `ProviderUnavailable`; a reset or close after connecting → `DeliveryUnknown`,
 * as the request may have been written.
 *
 * @since 0.1.0
 * @category classification
 */
export const classifyRequestError: (
  provider: string,
  error: HttpClientError.RequestError
) => MessagingError.MessagingError = internal.classifyRequestError

/**
 * A body as JSON when it parses, else the text itself (`undefined` when empty).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseBody: (text: string) => unknown = internal.parseBody

/**
 * How {@link fetchMedia} fetches a message's media.
 *
 * @since 0.1.0
 * @category media
 */
export interface FetchOptions {
  readonly provider: string
  /** The most bytes accepted. */
  readonly limit: number
  /** How long the download may take (default 30 s). */
  readonly timeout?: Duration.Input | undefined
  /**
   * The error for media over `limit`: `size` is the size when `exact`, else the limit it passed;
   * `described` says so in words (`is 9000000 bytes`), `at` is the URL without its query string.
   */
  readonly tooLarge: (media: {
    readonly at: string
    readonly described: string
    readonly size: number
    readonly exact: boolean
  }) => MessagingError.MessagingError
}

/**
 * Downloads a message's media with `client` (redirects followed), streamed and capped at `limit`, for
 * providers that upload media rather than pass a link. A 4xx from the media host is `InvalidMessage`
 * (no provider can send it); a 5xx, 429, timeout or connection failure is `ProviderUnavailable`
 * (nothing was sent, so it is safe to retry); media over the limit is what `tooLarge` says.
 *
 * @since 0.1.0
 * @category media
 */
export const fetchMedia: (
  client: HttpClient.HttpClient,
  message: Message.MediaMessage,
  options: FetchOptions
) => Effect.Effect<Uint8Array, MessagingError.MessagingError> = internal.fetchMedia

/**
 * A `multipart/form-data` body of text fields and one file, encoded to its bytes (by the platform's own
 * `Response`), so that every `HttpClient` (`NodeHttpClient.layerUndici`, `layerNodeHttp`, fetch) sends it
 * alike and with a `Content-Length`, where a `FormData` body is streamed in each client's own way.
 *
 * @since 0.1.0
 * @category media
 */
export const multipart: (
  fields: Readonly<Record<string, string | undefined>>,
  file: { readonly field: string; readonly bytes: Uint8Array; readonly type: string; readonly name: string }
) => Effect.Effect<HttpBody.HttpBody> = internal.multipart
