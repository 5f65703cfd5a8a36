/**
 * The dialog the conversation, scale and retention benchmarks run (the one BuilderBot runs in
 * peer/builderbot/bot.mjs): `start` → two questions → a summary that repeats both answers.
 */
import { Bot, Conversation } from "@parley/core"
import * as Effect from "effect/Effect"

export const bot = Bot.make({
  routes: [
    Bot.keyword(
      "start",
      Effect.gen(function*() {
        const first = yield* Conversation.ask("q1: your first answer?")
        const second = yield* Conversation.ask("q2: your second answer?")
        yield* Conversation.reply(`done ${first}|${second}`)
      }),
      { name: "questions" }
    )
  ]
})
