/**
 * The `parley` command: `send`, `doctor`, `dead-letters`, `chats`, `migrate`, each with `--help`. A
 * failure prints one line naming the fix (`✖ problem. fix`) and exits with its code: 1 when the
 * operation failed or `doctor` found a problem, 2 for a bad argument or setting, 3 when what was asked
 * for is not there.
 *
 * @since 0.1.0
 */
import type * as CliApp from "@effect/cli/CliApp"
import * as Command from "effect/cli/Command"
import * as ValidationError from "effect/cli/CliError"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Chats from "./Chats.js"
import { CliError, ExitCode } from "./CliError.js"
import * as DeadLetters from "./DeadLetters.js"
import * as Doctor from "./Doctor.js"
import * as Migrate from "./Migrate.js"
import * as Send from "./Send.js"

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("parley").pipe(
  Command.withDescription("Operate a Parley bot: send, check the configuration, dead letters, chats, migrations"),
  Command.withSubcommands([Send.command, Doctor.command, DeadLetters.command, Chats.command, Migrate.command])
)

const cli = Command.run(command, { name: "parley", version: "0.1.0" })

/**
 * Runs `parley` with the arguments (as `process.argv`: node, script, then the arguments) and resolves
 * with the exit code, having printed any failure.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (argv: ReadonlyArray<string>): Effect.Effect<number, never, CliApp.CliApp.Environment> =>
  cli(argv).pipe(
    Effect.as(ExitCode.ok as number),
    Effect.catchAll((error) =>
      // @effect/cli has printed what was wrong with the arguments.
      ValidationError.isValidationError(error)
        ? Effect.succeed(ExitCode.usage)
        : error instanceof CliError
        ? Effect.as(Console.error(`✖ ${error.message}`), error.exitCode)
        : Effect.as(Console.error(`✖ ${String(error)}`), ExitCode.failed)
    ),
    Effect.catchAllDefect((defect) =>
      Effect.as(Console.error(`✖ unexpected failure: ${String(defect)}`), ExitCode.failed)
    )
  )
