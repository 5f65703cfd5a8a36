import { describe, expect, it } from "@effect/vitest"
import {
  Bot,
  Capabilities,
  ChatId,
  Conversation,
  InboundEvent,
  Inbox,
  Message,
  MessagingService,
  Metrics
} from "@parley/core"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as TestClock from "effect/testing/TestClock"
import { join } from "node:path"
import { tempDir } from "./fixtures/databases.js"
import { recorder, says, settled, start, user } from "./fixtures/engine.js"

const IsoDate = Schema.String.check(
  Schema.isPattern(/^\d{4}-\d{2}-\d{2}$/, { message: "Expected a date like 2026-12-01" })
)

const booking = Effect.gen(function*() {
  const name = yield* Conversation.ask("What's your name?")
  const date = yield* Conversation.ask("Which date? (YYYY-MM-DD)", {
    schema: IsoDate,
    retryPrompt: "Please write it as 2026-12-01"
  })
  const slot = yield* Conversation.choose("Pick a time", ["09:00", "11:00", "15:00"])
  const ref = yield* Conversation.step("save", Effect.succeed(`B-${name.length}${slot.slice(0, 2)}`))
  yield* Conversation.reply(`Booked ${name} on ${date} at ${slot} (ref ${ref})`)
})

const database = Effect.map(tempDir("parley-bot-"), (dir) => join(dir, "bot.db"))

// The engine commits an event after its handler ran, on its own (real) time: a test lets it settle before
// moving the test clock, or the clock may pass a timer the engine has not written yet.
describe("Bot", () => {
  it.effect("runs a dialog: asks, re-prompts a bad answer with retryPrompt, chooses, replies", () =>
    Effect.gen(function*() {
      const out = yield* recorder
      const { inbox } = yield* start({
        file: yield* database,
        bot: Bot.make({ routes: [Bot.keyword("book", booking)] }),
        messaging: out.service
      })
      yield* inbox.enqueue([says("Book please")])
      expect(yield* out.next).toBe("What's your name?")
      yield* inbox.enqueue([says("Ada")])
      expect(yield* out.next).toBe("Which date? (YYYY-MM-DD)")
      yield* inbox.enqueue([says("tomorrow")])
      expect(yield* out.next).toBe("Please write it as 2026-12-01")
      yield* inbox.enqueue([says("2026-12-01")])
      expect(yield* out.next).toBe("Pick a time\n1. 09:00\n2. 11:00\n3. 15:00")
      yield* inbox.enqueue([says("noon")])
      expect(yield* out.next).toBe("Please reply with a number from 1 to 3.\nPick a time\n1. 09:00\n2. 11:00\n3. 15:00")
      yield* inbox.enqueue([says("2")])
      expect(yield* out.next).toBe("Booked Ada on 2026-12-01 at 11:00 (ref B-311)")
    }))

  it.effect("reads a chat once and commits an event once: a handful of statements per event", () =>
    Effect.gen(function*() {
      const out = yield* recorder
      const { inbox } = yield* start({
        file: yield* database,
        bot: Bot.make({ routes: [Bot.keyword("book", booking)] }),
        messaging: out.service
      })
      const statements = yield* Metric.value(Metrics.statements)
      const answers = ["book", "Ada", "2026-12-01", "2"]
      for (const answer of answers) {
        yield* inbox.enqueue([says(answer)])
        yield* out.next
      }
      yield* settled(inbox)
      const used = (yield* Metric.value(Metrics.statements)).count - statements.count
      // At most, each event alone (no other chat to share a transaction with): its enqueue (BEGIN, INSERT,
      // COMMIT) and its commit (BEGIN, the engine's hold, the chat, the inbox mark, the message sent,
      // COMMIT); plus one read of the chat, kept for its later events. (The engine before this one ran
      // about 20 per event.)
      expect(used).toBeLessThanOrEqual(answers.length * 9 + 1)
    }))

  it.effect("a chat whose next event is waiting does not keep its worker while another chat waits", () =>
    Effect.gen(function*() {
      const out = yield* recorder
      const handled: Array<string> = []
      const bot = Bot.make({
        routes: [],
        fallback: Effect.gen(function*() {
          const chat = yield* Conversation.chat
          const text = Conversation.textOf(yield* Conversation.trigger)
          handled.push(`${chat.toString() === user.toString() ? "a" : "b"}:${text}`)
        })
      })
      // One worker: the order it takes events in is the engine's scheduling, nothing else.
      const { inbox } = yield* start({ file: yield* database, bot, messaging: out.service, engine: { concurrency: 1 } })
      const other = ChatId.phone("+31612345679")
      yield* inbox.enqueue([says("1"), says("2"), says("3"), says("1", other)])
      yield* settled(inbox)
      // Chat b's only event comes after a's first, not after all three of a's.
      expect(handled).toEqual(["a:1", "b:1", "a:2", "a:3"])
    }))

  it.effect("choose sends a choice as buttons where the provider has them, numbered text where not", () =>
    Effect.gen(function*() {
      const pick = Effect.gen(function*() {
        const slot = yield* Conversation.choose("Pick a time", ["09:00", "11:00"])
        yield* Conversation.reply(`You picked ${slot}`)
      })
      const bot = Bot.make({ routes: [Bot.keyword("book", pick)] })
      const withButtons = yield* recorder
      const first = yield* start({ file: yield* database, bot, messaging: withButtons.service })
      yield* first.inbox.enqueue([says("book")])
      expect((yield* withButtons.nextSent).message).toEqual(
        Message.buttons(user, { body: "Pick a time", options: ["09:00", "11:00"] })
      )
      // The user taps a button: its title comes back as the answer.
      yield* first.inbox.enqueue([says("11:00")])
      expect(yield* withButtons.next).toBe("You picked 11:00")

      // A provider without buttons: the service sends the same choice as numbered text.
      const received: Array<Message.Message> = []
      const textOnly = yield* MessagingService.make({
        provider: "text-only",
        capabilities: Capabilities.make({ kinds: ["text"], replies: ["text"] }),
        send: (message) =>
          Effect.sync(() => {
            received.push(message)
            return { messageId: `t-${received.length}`, status: "sent" as const }
          })
      }, { retry: false })
      const second = yield* start({ file: yield* database, bot, messaging: textOnly })
      yield* second.inbox.enqueue([says("book")])
      yield* settled(second.inbox)
      expect(received).toEqual([Message.text(user, "Pick a time\n1. 09:00\n2. 11:00")])
      yield* second.inbox.enqueue([says("1")])
      yield* settled(second.inbox)
      expect(received.at(-1)).toEqual(Message.text(user, "You picked 09:00"))
    }))

  it.effect("a dialog torn down after its second question resumes on a new runtime, without repeating prompts", () =>
    Effect.gen(function*() {
      const file = yield* database
      const out = yield* recorder
      const saves = { count: 0 }
      const counted = Effect.gen(function*() {
        const name = yield* Conversation.ask("What's your name?")
        const date = yield* Conversation.ask("Which date? (YYYY-MM-DD)", { schema: IsoDate })
        const slot = yield* Conversation.choose("Pick a time", ["09:00", "11:00"])
        yield* Conversation.step("save", Effect.sync(() => ++saves.count))
        yield* Conversation.reply(`Booked ${name} on ${date} at ${slot}`)
      })
      const bot = Bot.make({ routes: [Bot.keyword("book", counted)] })

      const first = yield* start({ file, bot, messaging: out.service })
      yield* first.inbox.enqueue([says("book")])
      expect(yield* out.next).toBe("What's your name?")
      yield* first.inbox.enqueue([says("Grace")])
      expect(yield* out.next).toBe("Which date? (YYYY-MM-DD)")
      yield* first.stop

      const second = yield* start({ file, bot, messaging: out.service })
      yield* second.inbox.enqueue([says("2026-12-24")])
      expect(yield* out.next).toBe("Pick a time\n1. 09:00\n2. 11:00")
      yield* second.stop

      const third = yield* start({ file, bot, messaging: out.service })
      yield* third.inbox.enqueue([says("1")])
      expect(yield* out.next).toBe("Booked Grace on 2026-12-24 at 09:00")
      expect(out.texts()).toEqual([
        "What's your name?",
        "Which date? (YYYY-MM-DD)",
        "Pick a time\n1. 09:00\n2. 11:00",
        "Booked Grace on 2026-12-24 at 09:00"
      ])
      expect(saves.count).toBe(1)
      // The dialog is over: the next "book" starts a new one.
      yield* third.inbox.enqueue([says("book")])
      expect(yield* out.next).toBe("What's your name?")
    }))

  const slowAsk = Effect.gen(function*() {
    const answer = yield* Conversation.ask("Still there?", { timeout: "10 minutes" }).pipe(
      Effect.catchTag("AskTimeout", () => Effect.succeed("timed out"))
    )
    yield* Conversation.reply(`Result: ${answer}`)
  })

  it.effect("an ask's timeout fires with no new message, under the test clock", () =>
    Effect.gen(function*() {
      const out = yield* recorder
      const { inbox } = yield* start({
        file: yield* database,
        bot: Bot.make({ routes: [], fallback: slowAsk }),
        messaging: out.service
      })
      yield* inbox.enqueue([says("hello")])
      expect(yield* out.next).toBe("Still there?")
      yield* settled(inbox)
      yield* TestClock.adjust("9 minutes")
      expect(out.all.length).toBe(1)
      yield* TestClock.adjust("1 minute")
      expect(yield* out.next).toBe("Result: timed out")
    }))

  it.effect("an ask's timeout also fires after a restart", () =>
    Effect.gen(function*() {
      const file = yield* database
      const out = yield* recorder
      const bot = Bot.make({ routes: [], fallback: slowAsk })
      const first = yield* start({ file, bot, messaging: out.service })
      yield* first.inbox.enqueue([says("hello")])
      expect(yield* out.next).toBe("Still there?")
      yield* first.stop
      yield* start({ file, bot, messaging: out.service })
      yield* TestClock.adjust("10 minutes")
      expect(yield* out.next).toBe("Result: timed out")
      expect(out.texts()).toEqual(["Still there?", "Result: timed out"])
    }))

  it.effect("an answer before the timeout cancels it", () =>
    Effect.gen(function*() {
      const out = yield* recorder
      const { inbox } = yield* start({
        file: yield* database,
        bot: Bot.make({ routes: [], fallback: slowAsk }),
        messaging: out.service
      })
      yield* inbox.enqueue([says("hello")])
      expect(yield* out.next).toBe("Still there?")
      yield* inbox.enqueue([says("yes")])
      expect(yield* out.next).toBe("Result: yes")
      yield* settled(inbox)
      yield* TestClock.adjust("1 hour")
      expect(out.texts()).toEqual(["Still there?", "Result: yes"])
    }))

  it.effect("cancel words end the open dialog; the next message is routed afresh", () =>
    Effect.gen(function*() {
      const out = yield* recorder
      const { inbox } = yield* start({
        file: yield* database,
        bot: Bot.make({
          routes: [Bot.keyword("book", booking)],
          fallback: Conversation.reply("Type book to book"),
          cancel: ["cancel", "stop"],
          cancelReply: "Cancelled."
        }),
        messaging: out.service
      })
      yield* inbox.enqueue([says("book")])
      expect(yield* out.next).toBe("What's your name?")
      yield* inbox.enqueue([says("STOP")])
      expect(yield* out.next).toBe("Cancelled.")
      yield* inbox.enqueue([says("Ada")])
      expect(yield* out.next).toBe("Type book to book")
    }))

  it.effect("replies go through the provider the chat came in on, with a key when it takes idempotency keys", () =>
    Effect.gen(function*() {
      const out = yield* recorder
      const file = yield* database
      const bot = Bot.make({ routes: [], fallback: Conversation.reply("hi") })
      const plain = yield* start({ file, bot, messaging: out.service })
      yield* plain.inbox.enqueue([says("hello", user, "multisession")])
      const first = yield* out.nextSent
      expect(first.options?.preferProvider).toBe("multisession")
      // The engine's own durable guard covers it: no key for the service to keep in memory.
      expect(first.options?.idempotencyKey).toBeUndefined()
      yield* plain.stop

      const native = { ...out.service, capabilities: { ...out.service.capabilities, idempotencyKeys: true } }
      const keyed = yield* start({ file, bot, messaging: native })
      yield* keyed.inbox.enqueue([says("again", user, "multisession")])
      expect((yield* out.nextSent).options?.idempotencyKey).toBeDefined()
    }))

  it.effect("a failing handler is retried, then its event is dead-lettered and the chat goes on", () =>
    Effect.gen(function*() {
      const out = yield* recorder
      const attempts = { count: 0 }
      const { inbox } = yield* start({
        file: yield* database,
        bot: Bot.make({
          routes: [
            Bot.keyword(
              "crash",
              Effect.suspend(() => Effect.fail(new Error(`booking service down #${++attempts.count}`)))
            )
          ],
          fallback: Conversation.reply("ok")
        }),
        messaging: out.service,
        engine: { retry: Schedule.recurs(2) }
      })
      yield* inbox.enqueue([says("crash"), says("hello")])
      expect(yield* out.next).toBe("ok")
      expect(attempts.count).toBe(3)
      const [dead] = yield* inbox.deadLetters
      expect(dead?.error).toContain("booking service down #3")
      expect(dead?.attempts).toBe(3)
    }))

  it.effect("statuses update the stored message and reach onStatus", () =>
    Effect.gen(function*() {
      const out = yield* recorder
      const statuses = yield* Queue.unbounded<readonly [string, string]>()
      const { inbox, store } = yield* start({
        file: yield* database,
        bot: Bot.make({
          routes: [],
          fallback: Conversation.reply("hi"),
          onStatus: (event, message) =>
            Queue.offer(
              statuses,
              [event.status, Option.match(message, { onNone: () => "?", onSome: (m) => m.chat })] as const
            )
        }),
        messaging: out.service
      })
      yield* inbox.enqueue([says("hello")])
      const sent = yield* out.nextSent
      yield* inbox.enqueue([
        new InboundEvent.StatusChanged({
          provider: "wawp",
          eventId: "ack-1",
          messageId: sent.receipt.messageId,
          chat: user,
          status: "failed",
          error: "131026",
          at: new Date(1)
        })
      ])
      expect(yield* Queue.take(statuses)).toEqual(["failed", user.toString()])
      yield* settled(inbox)
      expect((yield* store.sentMessages(user.toString())).map((m) => [m.status, m.error])).toEqual([[
        "failed",
        "131026"
      ]])
    }))

  it.effect("a status only moves a message forward, and one for a message we never sent reaches onStatus alone", () =>
    Effect.gen(function*() {
      const out = yield* recorder
      const seen = yield* Queue.unbounded<readonly [string, string]>()
      const { inbox, store } = yield* start({
        file: yield* database,
        bot: Bot.make({
          routes: [],
          fallback: Conversation.reply("hi"),
          onStatus: (event, message) =>
            Queue.offer(seen, [
              event.status,
              Option.match(message, { onNone: () => "unknown", onSome: (m) => m.status })
            ])
        }),
        messaging: out.service
      })
      yield* inbox.enqueue([says("hello")])
      const sent = yield* out.nextSent
      const status = (id: string, messageId: string, value: InboundEvent.DeliveryStatus) =>
        new InboundEvent.StatusChanged({
          provider: "wawp",
          eventId: id,
          messageId,
          chat: user,
          status: value,
          at: new Date(1)
        })
      yield* inbox.enqueue([status("s1", sent.receipt.messageId, "read")])
      yield* inbox.enqueue([status("s2", sent.receipt.messageId, "delivered")])
      yield* inbox.enqueue([status("s3", "never-sent", "read")])
      expect(yield* Effect.all([Queue.take(seen), Queue.take(seen), Queue.take(seen)])).toEqual([
        ["read", "read"],
        ["delivered", "read"],
        ["read", "unknown"]
      ])
      yield* settled(inbox)
      expect((yield* store.sentMessages(user.toString())).map((m) => m.status)).toEqual(["read"])
    }))

  it.effect("outside the 24 h window a free-form reminder becomes the template fallback", () =>
    Effect.gen(function*() {
      const out = yield* recorder
      const remind = Effect.gen(function*() {
        const now = yield* Conversation.step("now", Clock.currentTimeMillis)
        yield* Conversation.remindAt(new Date(now + 25 * 3600_000), "Your appointment is tomorrow at 09:00")
        yield* Conversation.reply("I'll remind you")
      })
      const { inbox } = yield* start({
        file: yield* database,
        bot: Bot.make({
          routes: [],
          fallback: remind,
          templateFallback: (message) =>
            Message.template(message.to, { name: "appointment_reminder", variables: ["09:00"] })
        }),
        messaging: out.service
      })
      yield* inbox.enqueue([says("remind me", user, "wawp", new Date(0))])
      expect(yield* out.next).toBe("I'll remind you")
      yield* settled(inbox)
      yield* TestClock.adjust("25 hours")
      const reminder = yield* out.nextSent
      expect(reminder.message).toEqual(Message.template(user, { name: "appointment_reminder", variables: ["09:00"] }))
    }))

  it.effect("outside the window, with no template fallback, a free-form send fails with WindowClosed", () =>
    Effect.gen(function*() {
      const out = yield* recorder
      const result = yield* Deferred.make<string>()
      const late = Effect.gen(function*() {
        yield* Conversation.sleep("25 hours")
        const outcome = yield* Effect.result(Conversation.reply("Are you still there?"))
        yield* Deferred.succeed(result, outcome._tag === "Failure" ? outcome.failure._tag : "sent")
      })
      const { inbox } = yield* start({
        file: yield* database,
        bot: Bot.make({ routes: [], fallback: late }),
        messaging: out.service
      })
      yield* inbox.enqueue([says("hi", user, "wawp", new Date(0))])
      yield* settled(inbox)
      yield* TestClock.adjust("25 hours")
      expect(yield* Deferred.await(result)).toBe("WindowClosed")
      expect(out.all).toEqual([])
    }))

  it.effect("a prompt that cannot be sent fails the ask with its MessagingError, as a reply does", () =>
    Effect.gen(function*() {
      const out = yield* recorder
      const result = yield* Deferred.make<string>()
      const late = Effect.gen(function*() {
        yield* Conversation.sleep("25 hours")
        const outcome = yield* Effect.result(Conversation.ask("Are you still there?"))
        yield* Deferred.succeed(result, outcome._tag === "Failure" ? outcome.failure._tag : "answered")
      })
      const { inbox } = yield* start({
        file: yield* database,
        bot: Bot.make({ routes: [], fallback: late }),
        messaging: out.service
      })
      yield* inbox.enqueue([says("hi", user, "wawp", new Date(0))])
      yield* settled(inbox)
      yield* TestClock.adjust("25 hours")
      expect(yield* Deferred.await(result)).toBe("WindowClosed")
      expect(out.all).toEqual([])
    }))

  it("the engine needs the engine's store, which a hand-written Inbox does not give", () => {
    const handWritten = Layer.succeed(Inbox.Inbox, {} as Inbox.Service)
    const engine = Bot.layer(Bot.make({ routes: [] })).pipe(
      Layer.provide(handWritten),
      Layer.provide(Layer.succeed(MessagingService.MessagingService, {} as MessagingService.Service))
    )
    // @ts-expect-error: the engine's store (from `Inbox.layer` or `Bot.layerStore`) is missing.
    const complete: Layer.Layer<never> = engine
    expect(complete).toBe(engine)
  })

  it.effect("typed per-chat state outlives dialogs", () =>
    Effect.gen(function*() {
      const out = yield* recorder
      const Visits = Conversation.State("visits", Schema.Number, 0)
      const count = Effect.gen(function*() {
        yield* Visits.update((n) => n + 1)
        yield* Conversation.reply(`Visit ${yield* Visits.get}`)
      })
      const { inbox } = yield* start({
        file: yield* database,
        bot: Bot.make({ routes: [], fallback: count }),
        messaging: out.service
      })
      yield* inbox.enqueue([says("a")])
      expect(yield* out.next).toBe("Visit 1")
      yield* inbox.enqueue([says("b")])
      expect(yield* out.next).toBe("Visit 2")
    }))

  it.effect("a dialog journaled before the move to Effect 4 resumes at its step, with no media reply sent again", () =>
    Effect.gen(function*() {
      const out = yield* recorder
      const image = Message.image(user, { url: "https://example.test/menu.png", caption: "Menu" })
      const bot = Bot.make({
        routes: [
          Bot.keyword(
            "menu",
            Effect.gen(function*() {
              yield* Conversation.reply(image)
              const name = yield* Conversation.ask("Your name?")
              yield* Conversation.reply(`Hi ${name}`)
            }),
            { name: "menu" }
          )
        ],
        fallback: Conversation.reply("Type menu")
      })
      const { context, inbox } = yield* start({ file: yield* database, bot, messaging: out.service })
      // The chat's row as Effect 3 wrote it: keys in its order (`_tag` last), the image's step keyed so.
      const event = `{"provider":"wawp","eventId":"e0","messageId":"m0","chat":"${user}","sender":"${user}",` +
        `"content":{"text":"menu","_tag":"Text"},"at":1700000000000,"_tag":"MessageReceived"}`
      const imageKey = `Image:{"to":"${user}","url":"https://example.test/menu.png","caption":"Menu","_tag":"Image"}`
      const dialog = `{"id":"d0","route":"menu","trigger":1000,"event":${event},"journal":[` +
        `{"kind":"reply","key":${JSON.stringify(imageKey)},"done":true,` +
        `"value":{"provider":"wawp","messageId":"w0","status":"sent","at":1700000000500}},` +
        `{"kind":"ask","key":"Your name?","done":false}],"startedAt":1700000000000}`
      const sql = Context.get(context, SqlClient.SqlClient)
      yield* sql`INSERT INTO parley_conversations (chat, provider, last_inbound_at, dialog, data, updated_at)
        VALUES (${user.toString()}, 'wawp', ${Date.now()}, ${dialog}, '{}', 0)`
      yield* inbox.enqueue([says("Ada")])
      expect(yield* out.next).toBe("Hi Ada")
      expect(out.texts()).toEqual(["Hi Ada"])
    }))

  it.effect("a dialog whose code changed under it is ended, and the chat is routed afresh", () =>
    Effect.gen(function*() {
      const file = yield* database
      const out = yield* recorder
      const v1 = Bot.make({
        routes: [Bot.keyword("book", booking, { name: "book" })],
        fallback: Conversation.reply("menu")
      })
      const first = yield* start({ file, bot: v1, messaging: out.service })
      yield* first.inbox.enqueue([says("book")])
      expect(yield* out.next).toBe("What's your name?")
      yield* first.stop
      const changed = Effect.gen(function*() {
        yield* Conversation.ask("Your full name, please?")
      })
      const v2 = Bot.make({
        routes: [Bot.keyword("book", changed, { name: "book" })],
        fallback: Conversation.reply("menu")
      })
      const second = yield* start({ file, bot: v2, messaging: out.service })
      yield* second.inbox.enqueue([says("Ada")])
      yield* second.inbox.enqueue([says("hello")])
      expect(yield* out.next).toBe("menu")
      expect((yield* second.inbox.deadLetters).length).toBe(0)
    }))
})

describe("Bot concurrency", () => {
  it.live("messages to one chat are handled one at a time, in arrival order, each once", () =>
    Effect.gen(function*() {
      const out = yield* recorder
      const seen: Array<string> = []
      let inFlight = 0
      let overlap = false
      const record = Effect.gen(function*() {
        const trigger = yield* Conversation.trigger
        if (++inFlight > 1) overlap = true
        yield* Effect.yieldNow
        seen.push(Conversation.textOf(trigger) ?? "")
        inFlight--
        if (seen.length === 50) yield* Conversation.reply("done")
      })
      const { inbox } = yield* start({
        file: yield* database,
        bot: Bot.make({ routes: [], fallback: record }),
        messaging: out.service
      })
      const events = Array.from({ length: 50 }, (_, i) => says(`m${i}`))
      yield* Effect.forEach(events, (event) => inbox.enqueue([event]), { concurrency: "unbounded", discard: true })
      expect(yield* out.next.pipe(Effect.timeout("20 seconds"))).toBe("done")
      expect(seen).toEqual(events.map((e) => (e.content as InboundEvent.TextContent).text))
      expect(overlap).toBe(false)
    }))

  it.live("different chats are handled in parallel", () =>
    Effect.gen(function*() {
      const out = yield* recorder
      const chats = 200
      const allStarted = yield* Deferred.make<void>()
      let started = 0
      let inFlight = 0
      let maxInFlight = 0
      const hold = Effect.gen(function*() {
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        if (++started === chats) yield* Deferred.succeed(allStarted, undefined)
        // Each handler waits until every chat's handler has started: one after another, none could finish.
        yield* Deferred.await(allStarted)
        inFlight--
        yield* Conversation.reply("done")
      })
      const { inbox } = yield* start({
        file: yield* database,
        bot: Bot.make({ routes: [], fallback: hold }),
        messaging: out.service,
        engine: { concurrency: 256 }
      })
      yield* inbox.enqueue(
        Array.from({ length: chats }, (_, i) => says("hi", ChatId.phone(`+3161000${String(i).padStart(4, "0")}`)))
      )
      yield* Effect.forEach(Array.from({ length: chats }), () => out.next, { discard: true }).pipe(
        Effect.timeout("30 seconds")
      )
      expect(maxInFlight).toBe(chats)
    }))
})
