/**
 * The replay runtime on its own: a dialog run over its journal with an input, and what the run ends with,
 * with no database, engine or provider (a host that records what it is asked to do).
 */
import { describe, expect, it } from "@effect/vitest"
import { ChatId, Conversation, InboundEvent, Inbox, Message, MessagingError, Receipt } from "@parley/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Dialog from "../src/internal/engine/dialog.js"
import * as Replay from "../src/internal/engine/replay.js"
import type * as rows from "../src/internal/engine/rows.js"

const chat = ChatId.phone("+31612345678")

const says = (text: string) =>
  new InboundEvent.MessageReceived({
    provider: "test",
    eventId: text,
    messageId: text,
    chat,
    sender: chat,
    content: new InboundEvent.TextContent({ text }),
    at: new Date(0)
  })

const timerFor = (step: number) =>
  new Inbox.TimerFired({
    timerId: 7,
    chat: chat.toString(),
    payload: { _tag: "DialogTimer", dialogId: "d1", step },
    at: new Date(0)
  })

/** A host that records what the dialog asks of it. */
const host = (options: { readonly held?: boolean; readonly fail?: MessagingError.MessagingError } = {}) => {
  const sent: Array<string> = []
  const keys: Array<string> = []
  const timers: Array<string> = []
  const cancelled: Array<string | number> = []
  const service: Dialog.Host = {
    chat,
    held: () => options.held ?? true,
    send: (message, key) =>
      options.fail !== undefined ? Effect.fail(options.fail) : Effect.sync(() => {
        sent.push(message._tag === "Text" ? message.text : Message.asText(message as Message.ButtonsMessage).text)
        keys.push(key)
        return new Receipt.Receipt({ provider: "test", messageId: `m${sent.length}`, status: "sent", at: new Date(0) })
      }),
    data: {},
    dataChanged: () => {},
    setTimer: (key) => void timers.push(key),
    cancelTimer: (timer) => void cancelled.push(timer)
  }
  return { service, sent, keys, timers, cancelled }
}

const dialogWith = (journal: Replay.Journal): rows.Dialog => ({
  id: "d1",
  route: "book",
  trigger: 1,
  event: says("book"),
  journal,
  startedAt: 0
})

const run = <E>(
  program: Effect.Effect<void, E, Conversation.Conversation>,
  journal: Replay.Journal,
  input: Replay.Input | undefined,
  h: ReturnType<typeof host> = host()
) => Dialog.run(program, dialogWith(journal), input, h.service, Effect.context<never>() as never)

const booking = Effect.gen(function*() {
  const name = yield* Conversation.ask("Your name?")
  const day = yield* Conversation.choose("Which day?", ["Monday", "Tuesday"])
  yield* Conversation.reply(`Booked ${name} on ${day}`)
})

const journalOf = (result: Replay.ReplayResult) => {
  if (result._tag !== "Suspended" && result._tag !== "Failed") throw new Error(`no journal: ${result._tag}`)
  return result.journal
}

describe("replay runtime", () => {
  it.effect("a first run sends the prompt, records the waiting step and suspends", () =>
    Effect.gen(function*() {
      const h = host()
      const result = yield* run(booking, [], undefined, h)
      expect(result).toEqual({ _tag: "Suspended", journal: [{ kind: "ask", key: "Your name?", done: false }] })
      expect(h.sent).toEqual(["Your name?"])
      expect(h.keys).toEqual(["d1:0"])
    }))

  it.effect("a run with an answer takes it and goes on; steps already done do nothing again", () =>
    Effect.gen(function*() {
      const h = host()
      const first = journalOf(yield* run(booking, [], undefined, h))
      const second = journalOf(yield* run(booking, first, { inboxId: 2, event: says("Ada") }, h))
      expect(second).toEqual([
        { kind: "ask", key: "Your name?", done: true, value: { answer: "Ada" }, by: 2 },
        { kind: "choose", key: "Which day?\n1. Monday\n2. Tuesday", done: false }
      ])
      const third = yield* run(booking, second, { inboxId: 3, event: says("2") }, h)
      expect(third).toEqual({ _tag: "Returned" })
      // Each prompt and the reply once, across the three runs.
      expect(h.sent).toEqual(["Your name?", "Which day?\n1. Monday\n2. Tuesday", "Booked Ada on Tuesday"])
    }))

  it.effect("an input a step already took (the event handled again after a crash) is not taken again", () =>
    Effect.gen(function*() {
      const h = host()
      const journal = [{ kind: "ask", key: "Your name?", done: true, value: { answer: "Ada" }, by: 2 }]
      const result = yield* run(booking, journal, { inboxId: 2, event: says("Ada") }, h)
      expect(journalOf(result)[1]).toEqual({ kind: "choose", key: "Which day?\n1. Monday\n2. Tuesday", done: false })
      expect(h.sent).toEqual(["Which day?\n1. Monday\n2. Tuesday"])
    }))

  it.effect("an answer the schema refuses gets the retry prompt, and the step waits again", () =>
    Effect.gen(function*() {
      const h = host()
      const age = Effect.asVoid(
        Conversation.ask("Your age?", { schema: Schema.FiniteFromString, retryPrompt: "A number, please" })
      )
      const first = journalOf(yield* run(age, [], undefined, h))
      const second = yield* run(age, first, { inboxId: 2, event: says("old") }, h)
      expect(second).toEqual({ _tag: "Suspended", journal: first })
      expect(h.sent).toEqual(["Your age?", "A number, please"])
      expect(h.keys).toEqual(["d1:0", "d1:0:retry:2"])
    }))

  it.effect("a send that fails reaches the dialog typed, from ask as from reply", () =>
    Effect.gen(function*() {
      const closed = new MessagingError.WindowClosed({
        provider: "test",
        chat: chat.toString(),
        reason: "the user last wrote over 24 h ago"
      })
      const caught: Array<string> = []
      const careful = Effect.gen(function*() {
        yield* Conversation.ask("Still there?").pipe(
          Effect.catchTag("WindowClosed", (e) => Effect.sync(() => caught.push(e._tag)))
        )
        yield* Conversation.reply("Bye").pipe(
          Effect.catchTag("WindowClosed", (e) => Effect.sync(() => caught.push(e._tag)))
        )
      })
      expect(yield* run(careful, [], undefined, host({ fail: closed }))).toEqual({ _tag: "Returned" })
      expect(caught).toEqual(["WindowClosed", "WindowClosed"])
      // Uncaught, it fails the run (retried, then dead-lettered by the engine), with the journal so far.
      const failed = yield* run(booking, [], undefined, host({ fail: closed }))
      expect(failed._tag).toBe("Failed")
      if (failed._tag === "Failed") {
        expect(Cause.findErrorOption(failed.cause)).toEqual(Option.some(closed))
        expect(failed.journal).toEqual([])
      }
    }))

  it.effect("a chat this instance no longer holds stops the run before it sends, and nothing reaches the dialog", () =>
    Effect.gen(function*() {
      const h = host({ held: false })
      const seen: Array<string> = []
      const watchful = Effect.gen(function*() {
        yield* Conversation.ask("Your name?").pipe(
          Effect.catch((error) => Effect.sync(() => seen.push(`error ${String(error)}`))),
          Effect.catchDefect((defect) => Effect.sync(() => seen.push(`defect ${String(defect)}`)))
        )
        seen.push("went on")
      })
      expect(yield* run(watchful, [], undefined, h)).toEqual({ _tag: "LeaseLost" })
      expect(seen).toEqual([])
      expect(h.sent).toEqual([])
      // Even code that catches the interruption ends where it was stopped: no later step runs.
      const stubborn = Effect.gen(function*() {
        yield* Effect.catchCause(Conversation.reply("one"), () => Effect.void)
        yield* Conversation.reply("two")
        seen.push("went on")
      })
      expect(yield* run(stubborn, [], undefined, h)).toEqual({ _tag: "LeaseLost" })
      expect(h.sent).toEqual([])
    }))

  it.effect("code that no longer matches its journal ends the dialog quietly, naming the step", () =>
    Effect.gen(function*() {
      const h = host()
      const changed = Effect.asVoid(Conversation.ask("Your full name?"))
      const result = yield* run(changed, [{ kind: "ask", key: "Your name?", done: false }], undefined, h)
      expect(result).toEqual({
        _tag: "Ended",
        reason:
          "dialog code changed at step 0: the journal has ask \"Your name?\", the code now does ask \"Your full name?\""
      })
      expect(h.sent).toEqual([])
      // A recorded answer the code no longer accepts ends it too.
      const narrower = Effect.asVoid(Conversation.choose("Which day?", ["Monday"]))
      const journal = [{
        kind: "choose",
        key: "Which day?\n1. Monday",
        done: true,
        value: { answer: "Tuesday" },
        by: 2
      }]
      expect(yield* run(narrower, journal, undefined, h)).toMatchObject({ _tag: "Ended" })
    }))

  it.effect("an ask's timer as input fails the ask with AskTimeout; uncaught, it ends the dialog quietly", () =>
    Effect.gen(function*() {
      const h = host()
      const timed = Effect.asVoid(Conversation.ask("Your name?", { timeout: "10 minutes" }))
      const first = journalOf(yield* run(timed, [], undefined, h))
      expect(first).toEqual([{ kind: "ask", key: "Your name?", done: false, timer: "d1:0" }])
      expect(h.timers).toEqual(["d1:0"])
      // A message that is not its answer's kind of input, a timer of another step: not taken.
      expect(yield* run(timed, first, { inboxId: 2, event: timerFor(5) }, h)).toMatchObject({ _tag: "Suspended" })
      expect(yield* run(timed, first, { inboxId: 3, event: timerFor(0) }, h)).toEqual({
        _tag: "Ended",
        reason: "no answer in time to: Your name?"
      })
      // An answer in time cancels the timer.
      expect(yield* run(timed, first, { inboxId: 4, event: says("Ada") }, h)).toEqual({ _tag: "Returned" })
      expect(h.cancelled).toEqual(["d1:0"])
    }))

  it.effect("a step runs once; its result is replayed", () =>
    Effect.gen(function*() {
      let runs = 0
      const counted = Effect.gen(function*() {
        const n = yield* Conversation.step("count", Effect.sync(() => ++runs))
        yield* Conversation.ask(`Run ${n}?`)
      })
      const first = journalOf(yield* run(counted, [], undefined))
      const second = yield* run(counted, first, undefined)
      expect(second).toEqual({ _tag: "Suspended", journal: first })
      expect(runs).toBe(1)
      expect(first[0]).toEqual({ kind: "step", key: "count", done: true, value: 1 })
    }))

  it.effect("a new kind of step fits without special cases: an action of its own kind, recorded and replayed", () =>
    Effect.gen(function*() {
      // A model's answer, say: run once, recorded with its codec, replayed after a crash without calling it.
      let calls = 0
      const model = Effect.sync(() => ({ text: `answer ${++calls}` }))
      const codec: Replay.Codec<{ readonly text: string }> = {
        encode: (a) => a.text,
        decode: (recorded) => ({ text: String(recorded) })
      }
      let answer: unknown
      const turn = (replay: Replay.Replay) =>
        Effect.gen(function*() {
          answer = yield* replay.once("model", "turn 1", () => model, codec)
          yield* replay.suspend
        })
      const first = new Replay.Replay([], undefined)
      expect(yield* Replay.run(turn(first), first)).toEqual({
        _tag: "Suspended",
        journal: [{ kind: "model", key: "turn 1", done: true, value: "answer 1" }]
      })
      answer = undefined
      const again = new Replay.Replay(first.journal(), undefined)
      yield* Replay.run(turn(again), again)
      expect(answer).toEqual({ text: "answer 1" })
      expect(calls).toBe(1)
      // A journal with another kind at its place ends the run, as for any step.
      answer = undefined
      const other = new Replay.Replay([{ kind: "tool", key: "turn 1", done: true, value: 1 }], undefined)
      expect(yield* Replay.run(turn(other), other)).toMatchObject({ _tag: "Ended" })
      expect(answer).toBeUndefined()
    }))
})
