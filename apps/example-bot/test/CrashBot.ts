/**
 * The process the crash suite kills: a webhook server and a conversation engine on SQLite, replying
 * through ChatSend, configured from the environment like any deployment (`PARLEY_CHATSEND_*`,
 * `CRASH_PORT`, `CRASH_DB`). Each user runs a three-question dialog; the last reply repeats the three
 * answers, so a lost or doubly handled message shows in it.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { ChatSend, ChatSendWebhook } from "@parley/chatsend"
import { Bot, Conversation, WebhookServer } from "@parley/core"
import { SqliteClient } from "@parley/sql-node-sqlite"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

const prompts = ["q1: your first answer?", "q2: your second answer?", "q3: your third answer?"] as const

const bot = Bot.make({
  routes: [
    Bot.keyword(
      "start",
      Effect.gen(function*() {
        const answers: Array<string> = []
        for (const prompt of prompts) answers.push(yield* Conversation.ask(prompt))
        yield* Conversation.reply(`done ${answers.join("|")}`)
      }),
      { name: "questions" }
    )
  ],
  fallback: Conversation.reply("unexpected message")
})

const main = Effect.gen(function*() {
  const port = yield* Config.integer("CRASH_PORT")
  const filename = yield* Config.string("CRASH_DB")
  const webhook = yield* ChatSendWebhook.makeConfig()
  yield* Layer.build(
    Layer.mergeAll(
      WebhookServer.layer({ port, handlers: [webhook] }),
      Bot.layer(bot, { pollInterval: "200 millis", concurrency: 32 })
    )
      .pipe(
        Layer.provide(ChatSend.layerConfig()),
        Layer.provide(NodeHttpClient.layerUndici),
        Layer.provide(Layer.provideMerge(Bot.layerStore, SqliteClient.layer({ filename })))
      )
  )
  yield* Console.log("crash bot ready")
  return yield* Effect.never
})

NodeRuntime.runMain(Effect.scoped(main))
