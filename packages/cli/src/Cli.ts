/**
 * The `parley` command: `send`, `doctor`, `dead-letters`, `chats`, `migrate`, each with `--help`. A
 * failure prints one line naming the fix (`✖ problem. fix`) and exits with its code: 1 when the
 * operation failed or `doctor` found a problem, 2 for a bad argument or setting, 3 when what was asked
 * for is not there.
 *
 * Help is coloured only on a terminal (not when standard output is piped, nor with `--json`, nor with
 * `NO_COLOR` set or `TERM=dumb`); nothing else `parley` prints is coloured.
 *
 * @since 0.1.0
 */
// `effect/cli`'s own errors (a bad argument, an unknown command), beside Parley's `CliError`.
import * as CommandLineError from "effect/cli/CliError"
import * as CliOutput from "effect/cli/CliOutput"
import * as Command from "effect/cli/Command"
import * as TerminalCapabilities from "effect/cli/TerminalCapabilities"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Chats from "./Chats.js"
import { CliError, ExitCode } from "./CliError.js"
import * as DeadLetters from "./DeadLetters.js"
import * as Doctor from "./Doctor.js"
import * as Migrate from "./Migrate.js"
import * as Output from "./Output.js"
import * as Send from "./Send.js"

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("parley").pipe(
  Command.withDescription("Operate a Parley bot: send, check the configuration, dead letters, chats, migrations"),
  Command.withSubcommands([Send.command, Doctor.command, DeadLetters.command, Chats.command, Migrate.command])
)

const cli = Command.runWith(command, { version: "0.1.0" })

// One line for what was wrong with the arguments: `effect/cli` puts its suggestions on lines of their own.
const describe = (error: CommandLineError.NonShowHelpErrors): string => {
  const [first = error._tag] = error.message.split("\n")
  const suggestions = "suggestions" in error && error.suggestions.length > 0
    ? ` (did you mean ${error.suggestions.join(" or ")}?)`
    : ""
  return `${first.replace(/\.$/, "")}${suggestions}`
}

// Help and the version as `effect/cli` prints them; a bad invocation as one line naming the fix, on
// standard error, without the full help.
const presenter: CliOutput.Presenter = {
  present: (event) =>
    event._tag === "InvalidInvocation"
      ? Console.error(
        `✖ ${event.errors.map(describe).join("; ")}. Run \`${event.commandPath.join(" ")} --help\` for the usage`
      )
      : CliOutput.defaultPresenter.present(event)
}

// What the terminal can do, from the `Stdio` service and NO_COLOR / FORCE_COLOR / TERM: colour only on
// a terminal, and never with `--json`.
const capabilities = (args: ReadonlyArray<string>) =>
  Effect.service(TerminalCapabilities.TerminalCapabilities).pipe(
    Effect.provide(TerminalCapabilities.layer),
    Effect.map((detected): TerminalCapabilities.TerminalCapabilities => ({
      ...detected,
      canColor: detected.canColor && !Output.wantsJson(args)
    }))
  )

/**
 * Runs `parley` with the arguments (as `process.argv`: node, script, then the arguments) and resolves
 * with the exit code, having printed any failure.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (argv: ReadonlyArray<string>): Effect.Effect<number, never, Command.Environment> =>
  Effect.gen(function*() {
    const args = argv.slice(2)
    const terminal = yield* capabilities(args)
    return yield* cli(args).pipe(
      Effect.as(ExitCode.ok as number),
      Effect.catch((error) =>
        error instanceof CliError
          ? Effect.as(Console.error(`✖ ${error.message}`), error.exitCode)
          : CommandLineError.isCliError(error)
          ? error._tag === "ShowHelp"
            // The presenter has printed the help, or what was wrong with the arguments.
            ? Effect.succeed(error.errors.length === 0 ? ExitCode.ok : ExitCode.usage)
            : Effect.as(Console.error(`✖ ${describe(error)}`), ExitCode.usage)
          : Effect.as(Console.error(`✖ ${String(error)}`), ExitCode.failed)
      ),
      Effect.catchDefect((defect) =>
        Effect.as(Console.error(`✖ unexpected failure: ${String(defect)}`), ExitCode.failed)
      ),
      Effect.provideService(CliOutput.Presenter, presenter),
      // A subcommand's help names the global flags (--help, --version, --log-level, ...) in one line.
      Effect.provideService(
        CliOutput.Formatter,
        CliOutput.defaultFormatter({ colors: terminal.canColor, globalFlags: "summary" })
      ),
      Effect.provideService(TerminalCapabilities.TerminalCapabilities, terminal)
    )
  })
