/**
 * The one error every command fails with: what went wrong, how to fix it, and the exit code. `parley`
 * prints it on one line (`✖ problem. fix`) and exits with the code.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

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
