/**
 * What commands print: JSON for scripts (`--json`), text for people, and a progress bar on a terminal.
 *
 * @since 0.1.0
 */
import * as Flag from "effect/cli/Flag"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"

/**
 * `--json`, for the commands whose output scripts read.
 *
 * @since 0.1.0
 * @category flags
 */
export const json: Flag.Flag<boolean> = Flag.Boolean("json").pipe(
  Flag.withDescription("Print JSON, for scripts"),
  Flag.withDefault(false)
)

/**
 * Whether the arguments ask for JSON: then nothing `parley` prints carries colour.
 *
 * @since 0.1.0
 * @category flags
 */
export const wantsJson = (args: ReadonlyArray<string>): boolean =>
  args.some((arg) => arg === "--json" || arg.startsWith("--json="))

/**
 * Prints `value` as JSON, or the text lines.
 *
 * @since 0.1.0
 * @category printing
 */
export const print = (json: boolean, value: unknown, lines: () => ReadonlyArray<string>): Effect.Effect<void> =>
  json ? Console.log(JSON.stringify(value, null, 2)) : Console.log(lines().join("\n"))

/**
 * A progress bar on standard error when it is a terminal (nothing otherwise, so scripts see only the
 * result): `update(done)` redraws it, `end` leaves the line.
 *
 * @since 0.1.0
 * @category printing
 */
export const progress = (label: string, total: number): {
  readonly update: (done: number) => Effect.Effect<void>
  readonly end: Effect.Effect<void>
} => {
  const shown = process.stderr.isTTY === true && total > 0
  const width = 30
  return {
    update: (done: number) =>
      Effect.sync(() => {
        if (!shown) return
        const filled = Math.round((done / total) * width)
        process.stderr.write(`\r${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}`)
      }),
    end: Effect.sync(() => {
      if (shown) process.stderr.write("\n")
    })
  }
}

/**
 * The first line of a text, cut to `max` characters.
 *
 * @since 0.1.0
 * @category printing
 */
export const brief = (text: string, max = 60): string => {
  const line = text.split("\n")[0] ?? ""
  return line.length > max ? `${line.slice(0, max - 1)}…` : line
}
