/**
 * The process the crash and instance suites kill: a webhook server and a conversation engine, replying
 * through ChatSend, configured from the environment like any deployment (`PARLEY_CHATSEND_*`,
 * `CRASH_PORT`; SQLite at `CRASH_DB`, or PostgreSQL at `CRASH_DATABASE_URL` with `PARLEY_INSTANCE_ID`
 * and `CRASH_LEASE`). Each user runs a three-question dialog; the last reply repeats the three answers,
 * so a lost or doubly handled message shows in it. With `CRASH_REMIND`, a reminder follows 300 ms after
 * the dialog (a durable timer); with `CRASH_RECORD`, each run of a dialog prints
 * `run <chat> <instance> <start>` as it starts and `ran <chat> <instance> <start> <end>` as it ends
 * (wall-clock milliseconds, fractional): the record of who handled what.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { ChatSend, ChatSendWebhook } from "@parley/chatsend"
import { Bot, Conversation, WebhookServer } from "@parley/core"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

const prompts = ["q1: your first answer?", "q2: your second answer?", "q3: your third answer?"] as const

const record = process.env.CRASH_RECORD !== undefined
const instance = process.env.PARLEY_INSTANCE_ID ?? "crash-bot"
const wallClock = () => performance.timeOrigin + performance.now()

// Prints the run's interval once it ends (it ends by suspending at the next question, or by finishing).
const recorded = <A, E, R>(dialog: Effect.Effect<A, E, R | Conversation.Conversation>) =>
  record
    ? Effect.flatMap(Conversation.chat, (chat) => {
      const start = wallClock()
      console.log(`run ${chat.toString()} ${instance} ${start}`)
      return Effect.ensuring(
        dialog,
        Effect.sync(() => console.log(`ran ${chat.toString()} ${instance} ${start} ${wallClock()}`))
      )
    })
    : dialog

const bot = Bot.make({
  routes: [
    Bot.keyword(
      "start",
      recorded(Effect.gen(function*() {
        const answers: Array<string> = []
        for (const prompt of prompts) answers.push(yield* Conversation.ask(prompt))
        yield* Conversation.reply(`done ${answers.join("|")}`)
        if (process.env.CRASH_REMIND !== undefined) {
          const at = yield* Conversation.step("remind-at", Effect.map(Clock.currentTimeMillis, (now) => now + 300))
          yield* Conversation.remindAt(new Date(at), "reminder")
        }
      })),
      { name: "questions" }
    )
  ],
  fallback: Conversation.reply("unexpected message")
})

const database = Effect.gen(function*() {
  const url = yield* Config.option(Config.Redacted("CRASH_DATABASE_URL"))
  if (Option.isSome(url)) return PgClient.layer({ url: url.value })
  return SqliteClient.layer({ filename: yield* Config.String("CRASH_DB") })
})

const main = Effect.gen(function*() {
  const port = yield* Config.Int("CRASH_PORT")
  const lease = yield* Config.withDefault(Config.Duration("CRASH_LEASE"), "1 minute")
  const webhook = yield* ChatSendWebhook.makeConfig()
  yield* Layer.build(
    Layer.mergeAll(
      WebhookServer.layer({ port, handlers: [webhook] }),
      Bot.layer(bot, { pollInterval: "200 millis", concurrency: 32, instanceId: instance, leaseTtl: lease })
    )
      .pipe(
        Layer.provide(ChatSend.layerConfig()),
        Layer.provide(NodeHttpClient.layerUndici),
        Layer.provide(Layer.provideMerge(Bot.layerStore, yield* database))
      )
  )
  yield* Console.log("crash bot ready")
  return yield* Effect.never
})

NodeRuntime.runMain(Effect.scoped(main))
