import { describe, expect, it } from "@effect/vitest"
import {
  Bot,
  Capabilities,
  ChatId,
  Conversation,
  ConversationStore,
  Idempotency,
  Message,
  MessagingService,
  Metrics
} from "@parley/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/testing/TestClock"
import { join } from "node:path"
import * as Retention from "../src/internal/engine/retention.js"
import { tempDir } from "./fixtures/databases.js"
import { recorder, says, settled, start } from "./fixtures/engine.js"

const usersPerStep = 20
const settings = {
  dedupe: Duration.hours(1),
  sentMessages: Duration.hours(2),
  inactiveChats: Duration.days(365),
  every: Duration.minutes(10)
}

// A retention pass runs on its own (real) time once the clock reaches it: wait for it to finish.
const nextPass = (before: number) =>
  Effect.repeat(
    Effect.andThen(
      Effect.callback<void>((resume) => void setImmediate(() => resume(Effect.void))),
      Metric.value(Metrics.pruneRuns)
    ),
    { until: (runs) => runs.count > before }
  )

describe("retention", () => {
  it.effect(
    "under steady traffic across many windows each table levels off; dedupe marks and idempotency keys hold inside their windows",
    () =>
      Effect.gen(function*() {
        const out = yield* recorder
        const file = join(yield* tempDir("parley-retention-"), "bot.db")
        const bot = Bot.make({
          routes: [
            Bot.keyword("crash", Effect.fail("the booking service is down")),
            Bot.keyword(
              "remind",
              Effect.gen(function*() {
                const at = yield* Conversation.step("at", Effect.map(Clock.currentTimeMillis, (t) => t + 5 * 60_000))
                yield* Conversation.remindAt(new Date(at), "Your appointment is in 5 minutes")
                yield* Conversation.reply("I'll remind you")
              })
            )
          ],
          fallback: Conversation.reply("ok")
        })
        const runsBefore = (yield* Metric.value(Metrics.pruneRuns)).count
        const { context, engine: store, inbox } = yield* start({
          file,
          bot,
          messaging: out.service,
          engine: {
            retry: Schedule.recurs(0),
            retention: { dedupe: "1 hour", sentMessages: "2 hours", every: "10 minutes" }
          }
        })
        yield* nextPass(runsBefore)

        // An idempotent send through a provider, its keys kept in the same database for an hour.
        let driverCalls = 0
        const messaging = yield* MessagingService.make({
          provider: "keyed",
          capabilities: Capabilities.make({ kinds: Message.kinds, replies: Message.kinds }),
          send: () => Effect.sync(() => ({ messageId: `keyed-${++driverCalls}`, status: "sent" as const }))
        }, { retry: false, idempotencyWindow: "1 hour" }).pipe(
          Effect.provideServiceEffect(
            Idempotency.IdempotencyStore,
            Effect.provide(ConversationStore.makeIdempotencyStore, context)
          )
        )
        const keyed = messaging.send(Message.text(ChatId.phone("+31600000001"), "Your order shipped"), {
          idempotencyKey: "order-1"
        })
        const first = yield* keyed

        const sizes: Array<Record<string, number>> = []
        let early: ReturnType<typeof says> | undefined
        for (let step = 0; step < 18; step++) {
          const events = Array.from({ length: usersPerStep }, (_, user) => {
            const from = ChatId.phone(`+3161${String(user).padStart(7, "0")}`)
            return says(user % 5 === 0 ? "remind me" : `hello ${step}`, from, "wawp", new Date())
          })
          if (step === 0) events.push(says("crash", ChatId.phone("+31699999999")))
          expect(yield* inbox.enqueue(events)).toEqual({ accepted: events.length, duplicates: 0 })
          if (step === 0) early = events[1]
          // 30 and 50 minutes after it first came, inside its hour, a redelivery is still a duplicate; and
          // the idempotent send is still answered from its key, without the provider.
          if (step === 3 || step === 5) {
            expect(yield* inbox.enqueue([early!])).toEqual({ accepted: 0, duplicates: 1 })
            expect(yield* keyed).toEqual(first)
            expect(driverCalls).toBe(1)
          }
          yield* settled(inbox)
          const runs = (yield* Metric.value(Metrics.pruneRuns)).count
          yield* TestClock.adjust("10 minutes")
          yield* nextPass(runs)
          yield* settled(inbox)
          // The timers that fired in this step may have been claimed after the pass ran: one more pass,
          // so that each step is measured at the same point.
          yield* Retention.prune(store, settings)
          sizes.push((yield* store.size).rows)
        }

        // Each table levels off: after the longest window (2 hours = 12 steps), nothing grows. (A step's
        // reminders go out when the timer loop wakes, 5 or 10 minutes into the step: they may fall on
        // either side of a cutoff, so a count moves by up to one step's reminders.)
        const late = sizes.slice(13)
        for (const table of ["inbox", "timers", "messages", "idempotency", "conversations"]) {
          const counts = late.map((size) => size[table]!)
          expect(Math.max(...counts) - Math.min(...counts), table).toBeLessThanOrEqual(usersPerStep / 5)
        }
        const last = sizes.at(-1)!
        // Inside the dedupe window: an hour of events (6 steps, with the reminders that fired), as marks.
        expect(last.inbox).toBeLessThanOrEqual(6 * (usersPerStep + usersPerStep / 5) + usersPerStep / 5)
        expect(last.inbox).toBeGreaterThanOrEqual(5 * (usersPerStep + usersPerStep / 5))
        // Sent messages for two hours (12 steps: replies and reminders), and not fewer: they are kept to
        // match delivery statuses.
        expect(last.messages).toBeLessThanOrEqual(12 * (usersPerStep + usersPerStep / 5) + 1)
        expect(last.messages).toBeGreaterThanOrEqual(11 * (usersPerStep + usersPerStep / 5))
        // Fired timers are gone: none is pending between steps.
        expect(last.timers).toBe(0)
        // The key's hour has passed: pruned, so the same key sends again.
        expect(last.idempotency).toBe(0)
        expect((yield* keyed).messageId).not.toBe(first.messageId)
        // A dead letter stays until a person drops it.
        expect(last.dead_letters).toBe(1)
        // The early event's mark is gone with its window: a redelivery now would be handled again.
        expect(yield* inbox.enqueue([early!])).toEqual({ accepted: 1, duplicates: 0 })
      })
  )

  it.effect(
    "with new users every step, finished chats of users silent past their window go and the chats level off; open dialogs, pending timers and returning users are served",
    () =>
      Effect.gen(function*() {
        const out = yield* recorder
        const file = join(yield* tempDir("parley-retention-"), "bot.db")
        const Visits = Conversation.State("visits", Schema.Number, 0)
        const bot = Bot.make({
          routes: [
            // Never answered: the dialog stays open, and so does its chat.
            Bot.keyword("quiz", Effect.asVoid(Conversation.ask("What is 6 x 7?"))),
            Bot.keyword(
              "later",
              Effect.gen(function*() {
                const at = yield* Conversation.step("at", Effect.map(Clock.currentTimeMillis, (t) => t + 2 * 3_600_000))
                yield* Conversation.remindAt(new Date(at), "Two hours have passed")
                yield* Conversation.reply("I'll remind you")
              })
            )
          ],
          fallback: Effect.gen(function*() {
            yield* Visits.update((n) => n + 1)
            yield* Conversation.reply(`Visit ${yield* Visits.get}`)
          })
        })
        const runsBefore = (yield* Metric.value(Metrics.pruneRuns)).count
        const { engine, inbox, store: conversations } = yield* start({
          file,
          bot,
          messaging: out.service,
          engine: {
            // A chat is idle an hour after its user's last message (its window, 30 minutes, has closed).
            window: "30 minutes",
            retention: { dedupe: "1 hour", sentMessages: "2 hours", inactiveChats: "1 hour", every: "10 minutes" }
          }
        })
        yield* nextPass(runsBefore)
        const phone = (n: number) => ChatId.phone(`+3162${String(n).padStart(7, "0")}`)
        const quiz = phone(9_000_001)
        const later = phone(9_000_002)
        const regular = phone(9_000_003)
        // Written at the engine's (test) clock's time: the window and the idle cutoff run from it.
        const saysNow = (text: string, from: ChatId.ChatId) =>
          Effect.map(Clock.currentTimeMillis, (now) => says(text, from, "wawp", new Date(now)))
        const kept = (chat: ChatId.ChatId) =>
          Effect.map(conversations.load(chat.toString()), (found) => found.lastInboundAt !== undefined)

        const chats: Array<number> = []
        for (let step = 0; step < 18; step++) {
          // Users who write once and never again.
          const events = yield* Effect.forEach(
            Array.from({ length: usersPerStep }, (_, n) => phone(step * 1_000 + n)),
            (from) => saysNow("hello", from)
          )
          if (step === 0) events.push(yield* saysNow("quiz", quiz), yield* saysNow("later", later))
          if (step === 0) events.push(yield* saysNow("hello", regular))
          yield* inbox.enqueue(events)
          yield* settled(inbox)
          if (step === 11) {
            // Past the window, not yet due: a chat with a pending reminder is kept.
            expect(yield* kept(later)).toBe(true)
            // The regular came on the first step; their chat went, and with it what it kept: back now, they
            // are served as a new user.
            expect(yield* kept(regular)).toBe(false)
            out.all.length = 0
            yield* inbox.enqueue([yield* saysNow("hello again", regular)])
            yield* settled(inbox)
            expect(out.texts()).toEqual(["Visit 1"])
          }
          const runs = (yield* Metric.value(Metrics.pruneRuns)).count
          yield* TestClock.adjust("10 minutes")
          yield* nextPass(runs)
          yield* settled(inbox)
          chats.push((yield* engine.size).rows.conversations!)
        }
        // An open dialog keeps its chat however long its user is silent; the reminder's timer has fired (its
        // message, outside the window, was not sent), and its chat has gone after it.
        expect(yield* kept(quiz)).toBe(true)
        expect(yield* kept(later)).toBe(false)
        // The chats level off: an hour of users (6 steps) and the step the sweep has not reached yet, plus
        // the open dialog and the regular's second visit.
        const late = chats.slice(9)
        expect(Math.max(...late) - Math.min(...late)).toBeLessThanOrEqual(usersPerStep)
        expect(chats.at(-1)!).toBeLessThanOrEqual(8 * usersPerStep + 2)
        expect(chats.at(-1)!).toBeGreaterThanOrEqual(6 * usersPerStep)
      })
  )
})
