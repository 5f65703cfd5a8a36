/**
 * `parley chats show <chat> [--messages N] [--json]`: one chat as the engine keeps it: the provider it
 * writes through, its 24 h window, the open dialog with its journal and timers, the recent messages.
 *
 * @since 0.1.0
 */
import { ChatId, ConversationStore, Inbox } from "@parley/core"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { CliError, ExitCode } from "./CliError.js"
import * as Database from "./Database.js"
import * as Output from "./Output.js"
import * as Store from "./Store.js"

const windowMillis = 24 * 3600_000
const encodePayload = Schema.encodeSync(Inbox.TimerPayload)

const show = Command.make("show", {
  chat: Argument.String("chat").pipe(
    Argument.withDescription("The chat: a phone number in international form (+31612345678), or a JID")
  ),
  messages: Flag.Int("messages").pipe(
    Flag.withDescription("How many of the chat's recent messages to show (default 10)"),
    Flag.withDefault(10)
  ),
  json: Output.json
}, ({ chat, json, messages }) =>
  Store.withStores(Effect.gen(function*() {
    const id = yield* Effect.fromResult(Result.mapError(ChatId.parse(chat), (error) =>
      new CliError({
        problem: `${chat} is not a chat: ${error.reason}`,
        fix: "Write a phone number with its country code (+31612345678) or a JID (…@g.us)",
        exitCode: ExitCode.usage
      })))
    const key = id.toString()
    const store = yield* ConversationStore.ConversationStore
    const [state, timers, recent] = yield* Effect.all([
      store.load(key),
      store.pendingTimers(key),
      store.recentMessages(key, messages)
    ]).pipe(Effect.mapError(Database.failed(`reading ${key}`)))
    if (state.lastInboundAt === undefined && Option.isNone(state.dialog) && recent.length === 0) {
      return yield* new CliError({
        problem: `no chat ${key} in ${(yield* Database.fromConfig).display}`,
        fix: "Check the number (with its country code) and the database settings",
        exitCode: ExitCode.notFound
      })
    }
    const now = Date.now()
    const windowEnds = state.lastInboundAt === undefined ? undefined : state.lastInboundAt + windowMillis
    const dialog = Option.getOrUndefined(state.dialog)
    yield* Output.print(json, {
      chat: key,
      provider: state.provider,
      lastInboundAt: state.lastInboundAt === undefined ? undefined : new Date(state.lastInboundAt),
      windowOpen: windowEnds !== undefined && windowEnds > now,
      windowEndsAt: windowEnds === undefined ? undefined : new Date(windowEnds),
      dialog: dialog === undefined
        ? undefined
        : {
          route: dialog.route,
          startedAt: new Date(dialog.startedAt),
          journal: dialog.journal
        },
      timers: timers.map((t) => ({ id: t.id, fireAt: t.fireAt, payload: encodePayload(t.payload) })),
      state: state.data,
      messages: recent
    }, () => [
      `Chat ${key}${state.provider === undefined ? "" : ` (through ${state.provider})`}`,
      windowEnds === undefined
        ? "Window: closed (the user never wrote)"
        : windowEnds > now
        ? `Window: open until ${new Date(windowEnds).toISOString()}`
        : `Window: closed since ${new Date(windowEnds).toISOString()} (only templates reach the user)`,
      dialog === undefined
        ? "Dialog: none open"
        : `Dialog: ${dialog.route}, started ${new Date(dialog.startedAt).toISOString()}`,
      ...(dialog?.journal ?? []).map((step, i) =>
        `  ${i + 1}. ${step.kind} ${JSON.stringify(step.key)} ${step.done ? "done" : "waiting"}${
          step.value === undefined ? "" : ` → ${Output.brief(JSON.stringify(step.value), 50)}`
        }`
      ),
      ...timers.map((t) =>
        `Timer #${t.id}: ${t.payload._tag === "Reminder" ? "reminder" : "dialog wake-up"} at ${t.fireAt.toISOString()}`
      ),
      ...(Object.keys(state.data).length === 0 ? [] : [`State: ${JSON.stringify(state.data)}`]),
      recent.length === 0 ? "Messages: none sent" : `Messages (newest first):`,
      ...recent.map((m) =>
        `  ${m.sentAt.toISOString()}  ${m.messageId}  ${m.provider}  ${m.status}${m.error ? ` (${m.error})` : ""}`
      )
    ])
  }))).pipe(Command.withDescription("Show a chat: its window, open dialog and journal, timers and recent messages"))

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("chats").pipe(
  Command.withDescription("Look at a chat as the engine keeps it"),
  Command.withSubcommands([show])
)
