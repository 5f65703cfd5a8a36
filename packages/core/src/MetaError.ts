/**
 * Meta's WhatsApp error objects (`{ error: { code, message, error_subcode, … } }`), which Cloud API
 * resellers relay as they are, and Meta's error table (an `ErrorTable.Table`). They are classified by
 * `error.code`, not by HTTP status: Meta itself answers 400 for rate limits that proxies turn into 429.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as ErrorTable from "./ErrorTable.js"
import type * as HttpTransport from "./HttpTransport.js"

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

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/**
 * What a Meta error object says: its `code`, its `error_subcode`, and a reason of the form
 * `<message> (code <code>)`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const read = (body: unknown): ErrorTable.Reading | undefined =>
  Option.getOrUndefined(Option.map(fromBody(body), (error) => ({
    code: error.code,
    subcode: error.error_subcode,
    reason: `${error.message ?? "Meta error"} (code ${error.code})`
  })))

/**
 * Meta's error codes, by what they mean for a send (developers.facebook.com/documentation/
 * business-messaging/whatsapp/support/error-codes; Graph API errors for code 100 and its subcodes).
 * Classified by `code` whatever the HTTP status: Meta answers 400 for rate limits that proxies turn into
 * 429, and 403 or 400 for a blocked account.
 *
 * - `misconfigured` (`Unauthorized`: fails over): the account or the number, not the message. 100 with
 *   subcode 33 (`Unsupported post request. Object with ID '…' does not exist, cannot be loaded due to
 *   missing permissions, or does not support this operation`: a wrong phone-number id, or a token that
 *   may not use it), 33 (the business number was deleted), 0/190 (the token), 3/10/200-299 and 131005
 *   (permissions), 368 (temporarily blocked for policy violations), 130497 (restricted from messaging
 *   users in that country), 131031 (account locked), 131037 (display name not approved), 131042
 *   (payment issue), 131045 and 133010 (the number is not registered).
 * - `rateLimited`: 4, 80007, 130429, 131048 (spam rate limit), 131056 (pair rate limit).
 * - `windowClosed`: 131047. `recipientUnavailable`: 131026 (undeliverable), 131021 (the recipient is the
 *   sender), 131049 (not delivered for ecosystem engagement), 131050 (the user stopped marketing
 *   messages), 130472 (the user's number is in an experiment).
 * - `unavailable` (retried, fails over): 1, 2, 131000, 131016, 131057 (maintenance mode), 133004.
 * - `invalid`: the message's parameters, media and template: 100 (other subcodes), 131008, 131009,
 *   131051, 131052, 131053, 131055, 132000, 132001, 132005, 132007, 132012, 132015 (paused), 132016
 *   (disabled), 132068, 132069, 135000.
 *
 * Codes not listed are read by their status.
 *
 * @since 0.1.0
 * @category classification
 */
export const table: ErrorTable.Table = {
  read,
  rules: [
    { code: 100, subcode: 33, outcome: "misconfigured" },
    {
      code: [0, 3, 10, 33, 190, ...range(200, 299), 368, 130497, 131005, 131031, 131037, 131042, 131045, 133010],
      outcome: "misconfigured"
    },
    { code: [4, 80007, 130429, 131048, 131056], outcome: "rateLimited" },
    { code: 131047, outcome: "windowClosed" },
    { code: [131026, 131021, 131049, 131050, 130472], outcome: "recipientUnavailable" },
    { code: [1, 2, 131000, 131016, 131057, 133004], outcome: "unavailable" },
    {
      code: [
        100,
        131008,
        131009,
        131051,
        131052,
        131053,
        131055,
        132000,
        132001,
        132005,
        132007,
        132012,
        132015,
        132016,
        132068,
        132069,
        135000
      ],
      outcome: "invalid"
    }
  ]
}

/**
 * The classifier of {@link table}: Meta's own (`HttpTransport.make({ classify })`).
 *
 * @since 0.1.0
 * @category classification
 */
export const classify: HttpTransport.Classifier = ErrorTable.classifier(table)
