/**
 * @parley/cli: the `parley` command for operating a Parley bot.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Cli from "./Cli.js"
/** @since 0.1.0 */
export * as CliError from "./CliError.js"
/** @since 0.1.0 */
export * as Database from "./Database.js"
/** @since 0.1.0 */
export * as Doctor from "./Doctor.js"
/** @since 0.1.0 */
export * as Providers from "./Providers.js"
