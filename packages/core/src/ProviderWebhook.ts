/**
 * What a provider's webhook module is built from: verification by HMAC signature over the raw bytes
 * (constant-time compare) or by a secret token in the path or query, JSON parsing, and tolerant
 * decoding. Decoders follow `Webhook`'s rule: a verified delivery is never refused for its shape; what
 * can be read is kept ({@link decodeShape}, {@link lenient}) and what cannot be addressed to a chat is
 * logged and {@link skip}ped.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type * as Result from "effect/Result"
import type * as Schema from "effect/Schema"
import type { InboundEvent } from "./InboundEvent.js"
import * as internal from "./internal/webhook.js"
import type * as Webhook from "./Webhook.js"

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

/**
 * The signature a sender with `secret` puts in the header for `body` (emulators sign with it).
 *
 * @since 0.1.0
 * @category signing
 */
export const sign: (options: HmacOptions, body: Uint8Array | string) => string = internal.sign

/**
 * Whether `given` equals the secret, compared in constant time.
 *
 * @since 0.1.0
 * @category verification
 */
export const matches: (given: string, secret: Redacted.Redacted) => boolean = internal.matches

/**
 * Verifies an HMAC signature over the raw body, in constant time.
 *
 * @since 0.1.0
 * @category verification
 */
export const verifyHmac: (
  provider: string,
  options: HmacOptions
) => (request: Webhook.WebhookRequest) => Effect.Effect<void, Webhook.WebhookError> = internal.verifyHmac

/**
 * Verifies a shared secret token, from the webhook path (`/webhooks/<provider>/<token>`) or, when
 * `queryParam` is given, from the query string; compared in constant time.
 *
 * @since 0.1.0
 * @category verification
 */
export const verifyToken: (
  provider: string,
  options: { readonly token: Redacted.Redacted; readonly queryParam?: string | undefined }
) => (request: Webhook.WebhookRequest) => Effect.Effect<void, Webhook.WebhookError> = internal.verifyToken

/**
 * The usual choice: HMAC when a secret is configured, else the URL token. Refuses everything when
 * neither is configured, so an endpoint is never left open by mistake.
 *
 * @since 0.1.0
 * @category verification
 */
export const verification: (provider: string, options: {
  readonly hmac?: HmacOptions | undefined
  readonly token?: Redacted.Redacted | undefined
  readonly queryParam?: string | undefined
}) => Webhook.WebhookHandler["verify"] = internal.verification

/**
 * How deep arrays and objects may nest in a webhook body: 64 levels, where the providers' deliveries
 * nest about 10 (Meta's `entry[].changes[].value.messages[].interactive.list_reply` is 8).
 *
 * @since 0.1.0
 * @category decoding
 */
export const maxJsonDepth: number = internal.maxJsonDepth

/**
 * Parses the body as JSON. A body that is not UTF-8 JSON, or whose arrays and objects nest deeper than
 * {@link maxJsonDepth} (checked on the raw bytes, before anything is parsed), is a 400 naming the
 * problem: the one refusal left once a delivery is verified, as no provider sends such a body on
 * purpose. Decoding stays bounded: the body's size is capped where it is read (`WebhookServer`), its
 * depth here.
 *
 * @since 0.1.0
 * @category decoding
 */
export const parseJson: (provider: string) => (body: Uint8Array) => Effect.Effect<unknown, Webhook.WebhookError> =
  internal.parseJson

/**
 * Decodes a verified delivery's JSON (or part of it) with `schema`, naming the first problem
 * (`unexpected shape at payload.from: is missing`, `unexpected shape at payload.body: Expected string,
 * actual 42`) instead of failing. Decoders keep what they can read and {@link skip} the rest: a 4xx
 * would make the provider deliver again, then drop the event.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeShape: <A, I>(
  schema: Schema.Codec<A, I, never, unknown>,
  at?: ReadonlyArray<PropertyKey>
) => (input: unknown) => Result.Result<A, string> = internal.decodeShape

/**
 * An optional field a decoder can do without: `schema` when the value matches it, else absent (the
 * key is left out of the decoded value). For the fields around what a decoder needs (a timestamp, a
 * display name), so that one odd value does not cost the whole event.
 *
 * @since 0.1.0
 * @category decoding
 */
export const lenient: <S extends Schema.Top>(
  schema: S
) => Schema.optional<Schema.middlewareDecoding<S, S["DecodingServices"]>> = internal.lenient

/**
 * Records a part of a verified delivery that could not be turned into an event (no chat to address it
 * to, say) as a warning, and yields no events for it.
 *
 * @since 0.1.0
 * @category decoding
 */
export const skip: (provider: string, reason: string) => Effect.Effect<ReadonlyArray<InboundEvent>> = internal.skip
