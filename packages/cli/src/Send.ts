/**
 * `parley send --to <chat> --text <text> [--provider <name>] [--json]`: one text message through the
 * provider named, or every configured one as a failover group; prints the receipt.
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { ChatId, Message, MessagingService } from "@parley/core"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { CliError, ExitCode } from "./CliError.js"
import * as Output from "./Output.js"
import * as Providers from "./Providers.js"

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("send", {
  to: Flag.String("to").pipe(
    Flag.withDescription("The chat to write to: a phone number in international form (+31612345678), or a JID")
  ),
  text: Flag.String("text").pipe(Flag.withDescription("The text of the message")),
  provider: Flag.String("provider").pipe(
    Flag.withDescription(
      "Send through this provider only, e.g. wawp (default: every configured one, with failover)"
    ),
    Flag.optional
  ),
  json: Output.json
}, ({ json, provider, text, to }) =>
  Effect.gen(function*() {
    const chat = yield* Effect.fromResult(Result.mapError(ChatId.parse(to), (error) =>
      new CliError({
        problem: `--to ${to} is not a chat: ${error.reason}`,
        fix: "Write a phone number with its country code (+31612345678) or a JID (…@g.us)",
        exitCode: ExitCode.usage
      })))
    const messaging = yield* Providers.messaging(provider)
    const receipt = yield* MessagingService.send(Message.text(chat, text)).pipe(
      Effect.provide(messaging),
      Effect.provide(NodeHttpClient.layerUndici),
      Effect.mapError((error) =>
        new CliError({
          problem: `the message was not sent: ${error.message}`,
          fix: error._tag === "InvalidMessage"
            ? "Change the message"
            : error._tag === "DeliveryUnknown"
            ? "It may have arrived: check the chat before sending again"
            : "Check the provider with `parley doctor`, or send through another with --provider",
          exitCode: error._tag === "InvalidMessage" ? ExitCode.usage : ExitCode.failed
        })
      )
    )
    yield* Output.print(
      json,
      { provider: receipt.provider, messageId: receipt.messageId, status: receipt.status, at: receipt.at },
      () => [`${receipt.status} by ${receipt.provider} as ${receipt.messageId} at ${receipt.at.toISOString()}`]
    )
  })).pipe(Command.withDescription("Send a text message through the configured providers"))
