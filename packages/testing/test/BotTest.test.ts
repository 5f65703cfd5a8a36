import { expect, it } from "@effect/vitest"
import { Bot, Conversation } from "@parley/core"
import { BotTest } from "@parley/testing"
import * as Effect from "effect/Effect"

// The README's example.
const booking = Effect.gen(function*() {
  const name = yield* Conversation.ask("What's your name?", { timeout: "10 minutes" })
  yield* Conversation.reply(`Table booked for ${name}`)
}).pipe(Effect.catchTag("AskTimeout", () => Conversation.reply("Still there? Type book to start again.")))

const bot = Bot.make({ routes: [Bot.keyword("book", booking)] })

it.effect("asks, then times out under the test clock", () =>
  Effect.gen(function*() {
    const test = yield* BotTest.make(bot)
    const ada = test.user("+31612345678")
    yield* ada.says("book")
    expect(yield* ada.reply).toBe("What's your name?")
    yield* test.advance("10 minutes")
    expect(yield* ada.reply).toBe("Still there? Type book to start again.")
  }))

it.effect("advance stops at each timer on the way, in order, and not past the time asked", () =>
  Effect.gen(function*() {
    const test = yield* BotTest.make(bot)
    const [ada, bob] = [test.user("+31612345678"), test.user("+31687654321")]
    yield* ada.says("book")
    yield* test.advance("4 minutes")
    yield* bob.says("book")
    yield* test.advance("9 minutes")
    expect((yield* test.sent).map((s) => [s.message.to.toString(), BotTest.render(s.message), s.receipt.at.getTime()]))
      .toEqual([
        ["+31612345678", "What's your name?", 0],
        ["+31687654321", "What's your name?", 240_000],
        ["+31612345678", "Still there? Type book to start again.", 600_000]
      ])
    yield* bob.says("Bob")
    expect(yield* bob.replies).toEqual(["What's your name?", "Table booked for Bob"])
  }))

it.effect("delivery statuses reach onStatus; a failing handler's event is dead-lettered", () =>
  Effect.gen(function*() {
    const statuses: Array<string> = []
    const test = yield* BotTest.make(Bot.make({
      routes: [Bot.keyword("crash", Effect.fail("the booking service is down"))],
      fallback: Conversation.reply("hi"),
      onStatus: (event) => Effect.sync(() => statuses.push(event.status))
    }))
    const ada = test.user("+31612345678")
    yield* ada.says("hello")
    yield* test.status(yield* ada.next, "read")
    yield* ada.says("crash")
    yield* test.settle
    expect(statuses).toEqual(["read"])
    expect((yield* test.deadLetters).map((d) => [d.attempts, d.error])).toEqual([
      [4, expect.stringContaining("the booking service is down")]
    ])
  }))
