/**
 * Meta's WhatsApp error objects (`{ error: { code, message, error_subcode, … } }`), which Cloud API
 * resellers relay as they are. They are classified by `error.code`, not by HTTP status: Meta itself
 * answers 400 for rate limits that proxies turn into 429.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as HttpTransport from "./HttpTransport.js"
import { retryAfterField } from "./internal/httpTransport.js"
import * as MessagingError from "./MessagingError.js"

/**
 * @since 0.1.0
 * @category schemas
 */
export const ErrorObject = Schema.Struct({
  message: Schema.optional(Schema.String),
  type: Schema.optional(Schema.String),
  code: Schema.Number,
  error_subcode: Schema.optional(Schema.Number),
  error_data: Schema.optional(Schema.Unknown),
  fbtrace_id: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category schemas
 */
export const ErrorBody = Schema.Struct({ error: ErrorObject })

const decodeBody = Schema.decodeUnknownOption(ErrorBody)

/**
 * The Meta error object in a body, if it carries one (also under a top-level `errors` array or as
 * the body itself, as some resellers wrap it).
 *
 * @since 0.1.0
 * @category parsing
 */
export const fromBody = (body: unknown): Option.Option<typeof ErrorObject.Type> => {
  const direct = decodeBody(body)
  if (Option.isSome(direct)) return Option.some(direct.value.error)
  if (Predicate.isObject(body) && Array.isArray(body.errors) && body.errors.length > 0) {
    return Schema.decodeUnknownOption(ErrorObject)(body.errors[0])
  }
  return Schema.decodeUnknownOption(ErrorObject)(body)
}

const rateLimitCodes = new Set([4, 80007, 130429, 131048, 131056])
const unavailableCodes = new Set([1, 2, 131000, 131016, 133004])
const invalidCodes = new Set([
  100,
  131008,
  131009,
  131051,
  131052,
  131053,
  132000,
  132001,
  132005,
  132007,
  132012,
  132015,
  132016
])
const unauthorizedCodes = new Set([0, 3, 10, 190, 200, 131005, 131031])

/**
 * Classifies a Meta error code: 130429/131056/131048/4/80007 → `RateLimited`; 131047 →
 * `WindowClosed`; 131026 → `RecipientUnavailable`; 190 and permission codes → `Unauthorized`;
 * 1/2/131000/131016 → `ProviderUnavailable`; parameter, media and template errors (100, 131008, 131009,
 * 131053, 132000, 132001, 132005, 132007, 132012, 132015 paused, 132016 disabled) → `InvalidMessage`.
 * Unknown codes are left to the status mapping.
 *
 * @since 0.1.0
 * @category classification
 */
export const classify: HttpTransport.Classifier = (answer) =>
  Option.getOrUndefined(Option.flatMap(fromBody(answer.body), (error): Option.Option<MessagingError.MessagingError> => {
    const provider = answer.provider
    const status = answer.status
    const reason = `${error.message ?? "Meta error"} (code ${error.code})`
    if (rateLimitCodes.has(error.code)) {
      return Option.some(new MessagingError.RateLimited({ provider, status, reason, ...retryAfterField(answer) }))
    }
    if (error.code === 131047) {
      return Option.some(new MessagingError.WindowClosed({ provider, chat: answer.chat ?? "unknown", reason }))
    }
    if (error.code === 131026) {
      return Option.some(new MessagingError.RecipientUnavailable({ provider, chat: answer.chat, reason }))
    }
    if (unauthorizedCodes.has(error.code)) {
      return Option.some(new MessagingError.Unauthorized({ provider, status, reason }))
    }
    if (unavailableCodes.has(error.code)) {
      return Option.some(new MessagingError.ProviderUnavailable({ provider, status, reason }))
    }
    if (invalidCodes.has(error.code)) {
      return Option.some(new MessagingError.InvalidMessage({ provider, field: "body", reason, status }))
    }
    return Option.none()
  }))
