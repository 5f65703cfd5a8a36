/**
 * `parley dead-letters list|show|replay|drop`: the events the engine gave up on. `replay` moves them
 * back into the inbox (a running bot takes them up within its poll interval), `drop` deletes them.
 * Both take ids, or `--all`.
 *
 * @since 0.1.0
 */
import { Inbox } from "@parley/core"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { CliError, ExitCode } from "./CliError.js"
import * as Database from "./Database.js"
import * as Output from "./Output.js"
import * as Store from "./Store.js"

const encodeEvent = Schema.encodeSync(Inbox.Event)

const toJson = (dead: Inbox.DeadLetter) => ({ ...dead, event: encodeEvent(dead.event) })

/**
 * What an event was, in a few words.
 *
 * @since 0.1.0
 * @category printing
 */
export const describe = (event: Inbox.Event): string => {
  switch (event._tag) {
    case "MessageReceived":
      return event.content._tag === "Text"
        ? `message "${Output.brief(event.content.text, 40)}"`
        : `message (${event.content._tag.toLowerCase()})`
    case "StatusChanged":
      return `status ${event.status} of ${event.messageId}`
    case "TimerFired":
      return `timer (${event.payload._tag === "Reminder" ? "reminder" : "dialog"})`
  }
}

const line = (dead: Inbox.DeadLetter) =>
  `#${dead.id}  ${dead.chat}  ${describe(dead.event)}  ${dead.attempts} attempts  ${dead.failedAt.toISOString()}  ${
    Output.brief(dead.error)
  }`

const list = Command.make("list", { json: Output.json }, ({ json }) =>
  Store.withStores(Effect.gen(function*() {
    const inbox = yield* Inbox.Inbox
    const found = yield* Effect.mapError(inbox.deadLetters, Database.failed("reading the dead letters"))
    yield* Output.print(
      json,
      found.map(toJson),
      () => found.length === 0 ? ["No dead letters."] : [...found.map(line), `${found.length} dead letters`]
    )
  }))).pipe(Command.withDescription("List the events the engine gave up on"))

const notFound = (ids: ReadonlyArray<number>) =>
  new CliError({
    problem: `no dead letter ${ids.map((id) => `#${id}`).join(", ")}`,
    fix: "`parley dead-letters list` shows the ids",
    exitCode: ExitCode.notFound
  })

const id = Argument.Int("id").pipe(
  Argument.withDescription("The dead letter's id, as `parley dead-letters list` shows it")
)

const show = Command.make("show", { id, json: Output.json }, ({ id, json }) =>
  Store.withStores(Effect.gen(function*() {
    const inbox = yield* Inbox.Inbox
    const found = yield* Effect.mapError(inbox.deadLetter(id), Database.failed("reading the dead letter"))
    if (Option.isNone(found)) return yield* notFound([id])
    const dead = found.value
    yield* Output.print(json, toJson(dead), () => [
      `Dead letter #${dead.id} (inbox event ${dead.inboxId})`,
      `chat:     ${dead.chat}`,
      `event:    ${describe(dead.event)}`,
      `attempts: ${dead.attempts}, last failed at ${dead.failedAt.toISOString()}`,
      "",
      JSON.stringify(toJson(dead).event, null, 2),
      "",
      dead.error
    ])
  }))).pipe(Command.withDescription("Show a dead letter: its event and the full error"))

// What `replay` and `drop` take: ids, or --all.
const input = (verb: "replay" | "drop") => ({
  ids: Argument.Int("id").pipe(
    Argument.withDescription(`The ids of the dead letters to ${verb}, as \`parley dead-letters list\` shows them`),
    Argument.variadic()
  ),
  all: Flag.Boolean("all").pipe(
    Flag.withDescription(`${verb === "replay" ? "Replay" : "Drop"} every dead letter`),
    Flag.withDefault(false)
  ),
  json: Output.json
})

// Replays and drops go in batches: each is one short transaction beside a running bot.
const batchSize = 100

const each = (
  verb: "replay" | "drop",
  run: (inbox: Inbox.Service, ids: ReadonlyArray<number>) => Effect.Effect<ReadonlyArray<number>, { message: string }>,
  done: (count: number) => string
) =>
  Command.make(verb, input(verb), ({ all, ids, json }) =>
    Store.withStores(Effect.gen(function*() {
      const inbox = yield* Inbox.Inbox
      if (ids.length === 0 && !all) {
        return yield* new CliError({
          problem: `nothing to ${verb}`,
          fix: `Give dead letter ids (\`parley dead-letters ${verb} 3 4\`) or --all`,
          exitCode: ExitCode.usage
        })
      }
      const wanted = all
        ? (yield* Effect.mapError(inbox.deadLetters, Database.failed("reading the dead letters"))).map((d) => d.id)
        : ids
      const bar = Output.progress(verb === "replay" ? "replaying" : "dropping", wanted.length)
      const handled: Array<number> = []
      for (let i = 0; i < wanted.length; i += batchSize) {
        const batch = yield* Effect.mapError(
          run(inbox, wanted.slice(i, i + batchSize)),
          Database.failed(`${verb === "replay" ? "replaying" : "dropping"} the dead letters`)
        )
        handled.push(...batch)
        yield* bar.update(Math.min(i + batchSize, wanted.length))
      }
      yield* bar.end
      const missing = wanted.filter((id) => !handled.includes(id))
      yield* Output.print(
        json,
        { [verb === "replay" ? "replayed" : "dropped"]: handled, missing },
        () => [done(handled.length)]
      )
      if (missing.length > 0) return yield* notFound(missing)
    }))).pipe(Command.withDescription(
      verb === "replay"
        ? "Move dead letters back into the inbox, for the bot to handle again"
        : "Delete dead letters"
    ))

const replay = each(
  "replay",
  (inbox, ids) => inbox.replay(ids),
  (n) =>
    `Replayed ${n} dead letter${
      n === 1 ? "" : "s"
    } into the inbox: a running bot handles them within its poll interval.`
)

const drop = each("drop", (inbox, ids) => inbox.drop(ids), (n) => `Dropped ${n} dead letter${n === 1 ? "" : "s"}.`)

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("dead-letters").pipe(
  Command.withDescription("See, replay or drop the events the engine gave up on"),
  Command.withSubcommands([list, show, replay, drop])
)
