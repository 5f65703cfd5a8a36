/**
 * The one error every command fails with: what went wrong, how to fix it, and the exit code. `parley`
 * prints it on one line (`✖ problem. fix`) and exits with the code.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"

/**
 * The exit codes of `parley`.
 *
 * @since 0.1.0
 * @category models
 */
export const ExitCode = {
  /** Done. */
  ok: 0,
  /** The operation failed, or `doctor` found a problem. */
  failed: 1,
  /** A bad argument or setting. */
  usage: 2,
  /** What was asked for is not there (a dead letter, the database file). */
  notFound: 3
} as const

/**
 * @since 0.1.0
 * @category errors
 */
export class CliError extends Schema.TaggedError<CliError>()("CliError", {
  problem: Schema.String,
  fix: Schema.String,
  exitCode: Schema.Number
}) {
  override get message(): string {
    return `${this.problem}. ${this.fix}`
  }
}

const settingIssues = SchemaIssue.makeFormatterStandardSchemaV1({
  // A setting's value is a string when it is set at all: a leaf of the wrong type is a missing setting.
  leafHook: (issue) => issue._tag === "InvalidType" ? "is not set" : SchemaIssue.defaultLeafHook(issue)
})

/**
 * What is wrong with the settings, on one line: each setting named, e.g. `PARLEY_WAWP_INSTANCE_ID is
 * not set`.
 *
 * @since 0.1.0
 * @category errors
 */
export const describeConfigError = (error: Config.ConfigError): string => {
  if (!Schema.isSchemaError(error.cause)) return error.message.replace(/\s*\n\s*/g, " ")
  return settingIssues(error.cause.issue).issues.map(({ message, path }) => {
    const name = (path ?? []).map(String).join("_")
    const text = message.replace(/\s*\n\s*/g, " ")
    return name === "" ? text : text === "is not set" ? `${name} ${text}` : `${name}: ${text}`
  }).join("; ")
}
