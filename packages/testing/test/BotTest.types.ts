/**
 * Type-level checks of `BotTest.make`, run by `pnpm check`: a bot that needs services must be given
 * them; a bot that needs only `Conversation` needs nothing.
 */
import { Bot, Conversation } from "@parley/core"
import { BotTest } from "@parley/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

class Clock extends Context.Service<Clock, { readonly now: number }>()("Clock") {}

const needsClock = Bot.make({ routes: [Bot.keyword("time", Effect.flatMap(Clock, () => Conversation.reply("now")))] })

// @ts-expect-error a bot that needs services must be given them
export const missing = BotTest.make(needsClock)
export const given = BotTest.make(needsClock, { services: Layer.succeed(Clock, { now: 0 }) })
export const plain = BotTest.make(Bot.make({ routes: [], fallback: Conversation.reply("hi") }))
