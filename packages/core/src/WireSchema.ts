/**
 * What the providers' Api modules, webhook decoders and emulators share about values on the wire:
 * schemas for a number or a boolean written as a string (in a query string, a form or a loosely typed
 * JSON field), read strictly, and {@link describeIssue}, the one wording of a decode failure that
 * Parley's logs, `UnavailableContent` reasons and emulators' 400s use.
 *
 * Effect 4's `Schema.NumberFromString` reads any string (`"abc"` becomes `NaN`); the schemas here
 * refuse what is not the value, as Effect 3's schemas of the same names did, so a decode failure names
 * the field instead of passing `NaN` on.
 *
 * @since 0.1.0
 */
import * as Num from "effect/Number"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"

/**
 * A number written as a string: only what `Number.parse` reads (decimal and exponent notation,
 * `NaN`, `Infinity`); any other text fails to decode. Encodes back to the string.
 *
 * @since 0.1.0
 * @category schemas
 */
export const NumberFromString = Schema.String.check(
  Schema.makeFilter((s) => Option.isSome(Num.parse(s)), { expected: "a string that will be decoded as a number" })
).pipe(Schema.decodeTo(Schema.Number, SchemaTransformation.numberFromString))

/**
 * `"true"` or `"false"` as a boolean; any other text fails to decode.
 *
 * @since 0.1.0
 * @category schemas
 */
export const BooleanFromString = Schema.Literals(["true", "false"]).pipe(
  Schema.decodeTo(
    Schema.Boolean,
    SchemaTransformation.transform({ decode: (s) => s === "true", encode: (b) => (b ? "true" : "false") })
  )
)

/**
 * A number, whether the provider sent it as a JSON number or as a string ({@link NumberFromString}).
 *
 * @since 0.1.0
 * @category schemas
 */
export const LooseNumber = Schema.Union([Schema.Number, NumberFromString])

/**
 * A boolean, whether sent as a JSON boolean or as `"true"`/`"false"` ({@link BooleanFromString}).
 *
 * @since 0.1.0
 * @category schemas
 */
export const LooseBoolean = Schema.Union([Schema.Boolean, BooleanFromString])

/**
 * The first problem of a failed decode: where (the path of keys into the input) and what.
 *
 * @since 0.1.0
 * @category models
 */
export interface Problem {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
}

const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1()

// Parley's wording, kept from its first releases: a missing field "is missing", a value of the wrong
// type "Expected <type>, actual <value>" (Effect 4 says "Missing key" and "Expected <type>, got
// <value>", and names an optional field's type `<type> | undefined`, which no JSON value can be).
const wording = (message: string): string =>
  message === "Missing key"
    ? "is missing"
    : message.replace(/^Expected ([\s\S]+?)(?: \| undefined)?, got /, "Expected $1, actual ")

/**
 * The first problem of `issue` in Parley's wording (`is missing`, `Expected string, actual 42`).
 * Decode with `reportInput: true` so the message can say what was found.
 *
 * @since 0.1.0
 * @category issues
 */
export const firstProblem = (issue: SchemaIssue.Issue): Problem | undefined => {
  const [first] = formatIssue(issue).issues
  if (first === undefined) return undefined
  const path = (first.path ?? []).map((segment) => typeof segment === "object" ? segment.key : segment)
  return { path, message: wording(first.message) }
}

/**
 * The first problem of `issue` as one line, `to: is missing` (or the message alone at the top), for a
 * 400 answer or a log line.
 *
 * @since 0.1.0
 * @category issues
 */
export const describeIssue = (issue: SchemaIssue.Issue): string => {
  const problem = firstProblem(issue)
  if (problem === undefined) return "invalid"
  return problem.path.length > 0 ? `${problem.path.map(String).join(".")}: ${problem.message}` : problem.message
}
