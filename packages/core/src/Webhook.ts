/**
 * The mechanics every provider's webhook module shares: the raw request it sees, verification by
 * HMAC signature (constant-time compare) or by a secret token in the path or query, JSON parsing, and
 * tolerant decoding. The rule every decoder follows: a delivery that passed verification is never
 * refused for its shape (a 4xx makes providers deliver again, then drop the event). What can be read
 * is kept, a message whose content cannot be read becomes `UnavailableContent`, what cannot be
 * addressed to a chat is logged and skipped, and only a body that is not JSON is a 400.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { createHmac, timingSafeEqual } from "node:crypto"
import type { InboundEvent } from "./InboundEvent.js"

/**
 * A webhook request as received, before any parsing.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebhookRequest {
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly query: Readonly<Record<string, string | undefined>>
  /** The path segment after `/webhooks/<provider>/`, when the URL carries a secret token. */
  readonly pathToken: string | undefined
  /** The raw body, exactly as received (signatures are over these bytes). */
  readonly body: Uint8Array
}

/**
 * Why a webhook request was refused: `400` malformed (not JSON, unreadable), `401` not authentic, `413`
 * too large, `503` cannot be handled right now: deliver again later. A verified delivery of a shape
 * Parley did not expect is never refused (see {@link decodeShape}).
 *
 * @since 0.1.0
 * @category errors
 */
export class WebhookError extends Schema.TaggedError<WebhookError>()("WebhookError", {
  provider: Schema.String,
  status: Schema.Literal(400, 401, 413, 503),
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.provider} webhook rejected (${this.status}): ${this.reason}`
  }
}

/**
 * What a provider package exports for inbound traffic.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebhookHandler {
  readonly provider: string
  /** Checks the request is authentic (signature or token). */
  readonly verify: (request: WebhookRequest) => Effect.Effect<void, WebhookError>
  /**
   * Turns a verified request into events (possibly none, e.g. for events Parley ignores). Fails only for
   * a body that is not JSON: what cannot be read is kept as unavailable content or {@link skip}ped.
   */
  readonly decode: (request: WebhookRequest) => Effect.Effect<ReadonlyArray<InboundEvent>, WebhookError>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface HmacOptions {
  readonly secret: Redacted.Redacted
  /** The header carrying the signature (any case). */
  readonly header: string
  readonly algorithm: "sha1" | "sha256" | "sha512"
  /** How the digest is written (default hex). */
  readonly encoding?: "hex" | "base64" | undefined
  /** A prefix before the digest, e.g. `sha256=`. */
  readonly prefix?: string | undefined
}

const safeEqual = (a: string, b: string): boolean => {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}

/**
 * The signature a sender with `secret` puts in the header for `body` (emulators sign with it).
 *
 * @since 0.1.0
 * @category signing
 */
export const sign = (options: HmacOptions, body: Uint8Array | string): string =>
  (options.prefix ?? "") +
  createHmac(options.algorithm, Redacted.value(options.secret)).update(body).digest(options.encoding ?? "hex")

/**
 * Verifies an HMAC signature over the raw body, in constant time.
 *
 * @since 0.1.0
 * @category verification
 */
export const verifyHmac =
  (provider: string, options: HmacOptions) => (request: WebhookRequest): Effect.Effect<void, WebhookError> => {
    const given = request.headers[options.header.toLowerCase()]
    if (given === undefined || given.length === 0) {
      return new WebhookError({ provider, status: 401, reason: `missing signature header ${options.header}` })
    }
    const expected = sign(options, request.body)
    const normalised = options.encoding === "base64" ? given.trim() : given.trim().toLowerCase()
    return safeEqual(normalised, expected)
      ? Effect.void
      : new WebhookError({ provider, status: 401, reason: `signature in ${options.header} does not match the body` })
  }

/**
 * Verifies a shared secret token, from the webhook path (`/webhooks/<provider>/<token>`) or, when
 * `queryParam` is given, from the query string; compared in constant time.
 *
 * @since 0.1.0
 * @category verification
 */
export const verifyToken =
  (provider: string, options: { readonly token: Redacted.Redacted; readonly queryParam?: string | undefined }) =>
  (request: WebhookRequest): Effect.Effect<void, WebhookError> => {
    const given = request.pathToken ?? (options.queryParam ? request.query[options.queryParam] : undefined)
    if (given === undefined || given.length === 0) {
      return new WebhookError({ provider, status: 401, reason: "missing webhook token in the URL" })
    }
    return safeEqual(given, Redacted.value(options.token))
      ? Effect.void
      : new WebhookError({ provider, status: 401, reason: "webhook token does not match" })
  }

/**
 * The usual choice: HMAC when a secret is configured, else the URL token. Refuses everything when
 * neither is configured, so an endpoint is never left open by mistake.
 *
 * @since 0.1.0
 * @category verification
 */
export const verification = (provider: string, options: {
  readonly hmac?: HmacOptions | undefined
  readonly token?: Redacted.Redacted | undefined
  readonly queryParam?: string | undefined
}): WebhookHandler["verify"] => {
  if (options.hmac) return verifyHmac(provider, options.hmac)
  if (options.token) return verifyToken(provider, { token: options.token, queryParam: options.queryParam })
  return () =>
    new WebhookError({
      provider,
      status: 401,
      reason: "no webhook secret or token is configured for this provider"
    })
}

const decoder = new TextDecoder("utf-8", { fatal: true })

/**
 * Parses the body as JSON. A body that is not UTF-8 JSON is a 400 naming the problem: the one refusal
 * left once a delivery is verified, as no provider sends such a body on purpose.
 *
 * @since 0.1.0
 * @category decoding
 */
export const parseJson = (provider: string) => (body: Uint8Array): Effect.Effect<unknown, WebhookError> => {
  try {
    return Effect.succeed(JSON.parse(decoder.decode(body)))
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    return new WebhookError({ provider, status: 400, reason: `malformed JSON: ${reason}` })
  }
}

/**
 * Decodes a verified delivery's JSON (or part of it) with `schema`, naming the first problem
 * (`unexpected shape at payload.from: is missing`) instead of failing. Decoders keep what they can read
 * and {@link skip} the rest: a 4xx would make the provider deliver again, then drop the event.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeShape = <A, I>(schema: Schema.Schema<A, I>, at: ReadonlyArray<PropertyKey> = []) => {
  const decode = Schema.decodeUnknownEither(schema, { errors: "first" })
  return (input: unknown): Either.Either<A, string> =>
    Either.mapLeft(decode(input), (error) => {
      const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
      const where = [...at, ...(issue?.path ?? [])]
      return `unexpected shape at ${where.length > 0 ? where.join(".") : "body"}: ${issue?.message ?? "invalid"}`
    })
}

const dropped = Schema.transform(Schema.Unknown, Schema.Undefined, {
  strict: true,
  decode: () => undefined,
  encode: () => undefined
})

/**
 * An optional field a decoder can do without: `schema` when the value matches it, else absent. For
 * the fields around what a decoder needs (a timestamp, a display name), so that one odd value does not
 * cost the whole event.
 *
 * @since 0.1.0
 * @category decoding
 */
export const lenient = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.Union(schema, dropped))

/**
 * Records a part of a verified delivery that could not be turned into an event (no chat to address it
 * to, say) as a warning, and yields no events for it.
 *
 * @since 0.1.0
 * @category decoding
 */
export const skip = (provider: string, reason: string): Effect.Effect<ReadonlyArray<InboundEvent>> =>
  Effect.as(
    Effect.annotateLogs(
      Effect.logWarning(`${provider} webhook: kept nothing of ${reason}`),
      "webhook.provider",
      provider
    ),
    []
  )
