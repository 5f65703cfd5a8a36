import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaParser from "effect/SchemaParser"
import { createHmac, timingSafeEqual } from "node:crypto"
import type { InboundEvent } from "../InboundEvent.js"
import type * as ProviderWebhook from "../ProviderWebhook.js"
import * as Webhook from "../Webhook.js"
import * as WireSchema from "../WireSchema.js"

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
      return Effect.fail(
        new Webhook.WebhookError({ provider, status: 401, reason: `missing signature header ${options.header}` })
      )
    }
    const expected = sign(options, request.body)
    const normalised = options.encoding === "base64" ? given.trim() : given.trim().toLowerCase()
    return safeEqual(normalised, expected)
      ? Effect.void
      : Effect.fail(
        new Webhook.WebhookError({
          provider,
          status: 401,
          reason: `signature in ${options.header} does not match the body`
        })
      )
  }

/** @internal */
export const verifyToken =
  (provider: string, options: { readonly token: Redacted.Redacted; readonly queryParam?: string | undefined }) =>
  (request: Webhook.WebhookRequest): Effect.Effect<void, Webhook.WebhookError> => {
    const given = request.pathToken ?? (options.queryParam ? request.query[options.queryParam] : undefined)
    if (given === undefined || given.length === 0) {
      return Effect.fail(
        new Webhook.WebhookError({ provider, status: 401, reason: "missing webhook token in the URL" })
      )
    }
    return matches(given, options.token)
      ? Effect.void
      : Effect.fail(new Webhook.WebhookError({ provider, status: 401, reason: "webhook token does not match" }))
  }

/** @internal */
export const verification = (provider: string, options: {
  readonly hmac?: ProviderWebhook.HmacOptions | undefined
  readonly token?: Redacted.Redacted | undefined
  readonly queryParam?: string | undefined
}): Webhook.WebhookHandler["verify"] => {
  if (options.hmac) return verifyHmac(provider, options.hmac)
  if (options.token) return verifyToken(provider, { token: options.token, queryParam: options.queryParam })
  const refused = Effect.fail(
    new Webhook.WebhookError({
      provider,
      status: 401,
      reason: "no webhook secret or token is configured for this provider"
    })
  )
  return () => refused
}

const decoder = new TextDecoder("utf-8", { fatal: true })

/** @internal */
export const maxJsonDepth = 64

// Whether arrays and objects in `body` nest deeper than `limit`, counted on the raw bytes outside
// strings (a UTF-8 continuation byte is never a quote, a backslash or a bracket). Checked before
// `JSON.parse`, so a deeply nested body is refused before any structure is built: what would recurse
// over it later (`JSON.stringify`, formatting a decode failure) overflows the stack from about 5,000
// levels, and a defect there would cost the whole request.
const nestedDeeperThan = (body: Uint8Array, limit: number): boolean => {
  let depth = 0
  let inString = false
  for (let i = 0; i < body.length; i++) {
    const byte = body[i]
    if (inString) {
      if (byte === 0x5c) i++
      else if (byte === 0x22) inString = false
    } else if (byte === 0x22) inString = true
    else if (byte === 0x5b || byte === 0x7b) {
      if (++depth > limit) return true
    } else if (byte === 0x5d || byte === 0x7d) depth--
  }
  return false
}

/** @internal */
export const parseJson = (provider: string) => (body: Uint8Array): Effect.Effect<unknown, Webhook.WebhookError> => {
  if (nestedDeeperThan(body, maxJsonDepth)) {
    return Effect.fail(
      new Webhook.WebhookError({
        provider,
        status: 400,
        reason: `malformed JSON: arrays and objects nested deeper than ${maxJsonDepth} levels`
      })
    )
  }
  try {
    return Effect.succeed(JSON.parse(decoder.decode(body)))
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    return Effect.fail(new Webhook.WebhookError({ provider, status: 400, reason: `malformed JSON: ${reason}` }))
  }
}

/** @internal */
export const decodeShape = <A, I>(schema: Schema.Codec<A, I, never, unknown>, at: ReadonlyArray<PropertyKey> = []) => {
  // Failures keep the input they reject, so the message can say what was found (decoding stops at
  // the first problem, Effect 4's default).
  const decode = SchemaParser.decodeUnknownResult(schema, { reportInput: true })
  return (input: unknown): Result.Result<A, string> =>
    Result.mapError(decode(input), (issue) => {
      const problem = WireSchema.firstProblem(issue)
      const where = [...at, ...(problem?.path ?? [])].map(String)
      return `unexpected shape at ${where.length > 0 ? where.join(".") : "body"}: ${problem?.message ?? "invalid"}`
    })
}

const absent = Effect.succeedNone

/** @internal */
export const lenient = <S extends Schema.Top>(schema: S) =>
  Schema.optional(schema.pipe(Schema.catchDecoding(() => absent)))

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
