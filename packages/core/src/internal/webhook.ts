import * as Effect from "effect/Effect"
import * as Either from "effect/Result"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { createHmac, timingSafeEqual } from "node:crypto"
import type { InboundEvent } from "../InboundEvent.js"
import type * as ProviderWebhook from "../ProviderWebhook.js"
import * as Webhook from "../Webhook.js"

/** @internal */
export const safeEqual = (a: string, b: string): boolean => {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}

/** @internal */
export const matches = (given: string, secret: Redacted.Redacted): boolean => safeEqual(given, Redacted.value(secret))

/** @internal */
export const sign = (options: ProviderWebhook.HmacOptions, body: Uint8Array | string): string =>
  (options.prefix ?? "") +
  createHmac(options.algorithm, Redacted.value(options.secret)).update(body).digest(options.encoding ?? "hex")

/** @internal */
export const verifyHmac =
  (provider: string, options: ProviderWebhook.HmacOptions) =>
  (request: Webhook.WebhookRequest): Effect.Effect<void, Webhook.WebhookError> => {
    const given = request.headers[options.header.toLowerCase()]
    if (given === undefined || given.length === 0) {
      return new Webhook.WebhookError({ provider, status: 401, reason: `missing signature header ${options.header}` })
    }
    const expected = sign(options, request.body)
    const normalised = options.encoding === "base64" ? given.trim() : given.trim().toLowerCase()
    return safeEqual(normalised, expected)
      ? Effect.void
      : new Webhook.WebhookError({
        provider,
        status: 401,
        reason: `signature in ${options.header} does not match the body`
      })
  }

/** @internal */
export const verifyToken =
  (provider: string, options: { readonly token: Redacted.Redacted; readonly queryParam?: string | undefined }) =>
  (request: Webhook.WebhookRequest): Effect.Effect<void, Webhook.WebhookError> => {
    const given = request.pathToken ?? (options.queryParam ? request.query[options.queryParam] : undefined)
    if (given === undefined || given.length === 0) {
      return new Webhook.WebhookError({ provider, status: 401, reason: "missing webhook token in the URL" })
    }
    return matches(given, options.token)
      ? Effect.void
      : new Webhook.WebhookError({ provider, status: 401, reason: "webhook token does not match" })
  }

/** @internal */
export const verification = (provider: string, options: {
  readonly hmac?: ProviderWebhook.HmacOptions | undefined
  readonly token?: Redacted.Redacted | undefined
  readonly queryParam?: string | undefined
}): Webhook.WebhookHandler["verify"] => {
  if (options.hmac) return verifyHmac(provider, options.hmac)
  if (options.token) return verifyToken(provider, { token: options.token, queryParam: options.queryParam })
  return () =>
    new Webhook.WebhookError({
      provider,
      status: 401,
      reason: "no webhook secret or token is configured for this provider"
    })
}

const decoder = new TextDecoder("utf-8", { fatal: true })

/** @internal */
export const parseJson = (provider: string) => (body: Uint8Array): Effect.Effect<unknown, Webhook.WebhookError> => {
  try {
    return Effect.succeed(JSON.parse(decoder.decode(body)))
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    return new Webhook.WebhookError({ provider, status: 400, reason: `malformed JSON: ${reason}` })
  }
}

/** @internal */
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

/** @internal */
export const lenient = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.Union(schema, dropped))

/** @internal */
export const skip = (provider: string, reason: string): Effect.Effect<ReadonlyArray<InboundEvent>> =>
  Effect.as(
    Effect.annotateLogs(
      Effect.logWarning(`${provider} webhook: kept nothing of ${reason}`),
      "webhook.provider",
      provider
    ),
    []
  )
