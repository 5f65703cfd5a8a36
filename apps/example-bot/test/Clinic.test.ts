/**
 * The clinic's dialogs, through `BotTest`: no HTTP, an in-memory database, the test clock for the
 * reminders, and a restart in the middle of a booking.
 */
import { expect, it } from "@effect/vitest"
import { BotTest } from "@parley/testing"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Bookings from "../src/Bookings.js"
import * as Clinic from "../src/Clinic.js"

const clinic = (reminderDelay: Duration.Input = "2 hours") =>
  BotTest.make(
    Clinic.make({ mediaBase: "https://clinic.example/media", reminderDelay: Duration.fromInputUnsafe(reminderDelay) }),
    {
      services: Bookings.layer
    }
  )

/** Books `name` on 2026-12-01 at 11:00, answering every question, and returns the confirmation. */
const book = (user: BotTest.User, name: string) =>
  Effect.gen(function*() {
    yield* user.says("book")
    expect(yield* user.reply).toBe("Great, let's book. What's your name?")
    yield* user.says(name)
    expect(yield* user.reply).toBe("Which date? Please write it as YYYY-MM-DD.")
    yield* user.says("2026-12-01")
    expect(yield* user.reply).toContain(`Thanks ${name}. Pick a time on 2026-12-01:`)
    yield* user.says("2")
    expect(yield* user.reply).toContain(`Book ${name} on 2026-12-01 at 11:00?`)
    yield* user.says("1")
    return yield* user.reply
  })

it.effect("greets with the menu, answers what it does not understand with the fallback", () =>
  Effect.gen(function*() {
    const test = yield* clinic()
    const ada = test.user("+31612345678")
    yield* ada.says("Hi")
    expect(yield* ada.reply).toContain("Welcome to Sunrise Clinic")
    yield* ada.says("what is the meaning of life")
    expect(yield* ada.reply).toBe("Sorry, I didn't get that. Type menu to see what I can do.")
    // Nothing else was sent: the next wait fails at once, naming what was sent.
    const none = yield* Effect.flip(ada.reply)
    expect(none._tag).toBe("NoReply")
    expect(none.message).toContain("Sorry, I didn't get that.")
  }))

it.effect("books an appointment: re-asks an impossible date, saves once, lists it under my bookings", () =>
  Effect.gen(function*() {
    const test = yield* clinic()
    const ada = test.user("+31612345678")
    yield* ada.says("book")
    expect(yield* ada.reply).toBe("Great, let's book. What's your name?")
    yield* ada.says("Ada")
    expect(yield* ada.reply).toBe("Which date? Please write it as YYYY-MM-DD.")
    yield* ada.says("2026-02-30")
    expect(yield* ada.reply).toBe("Please write the date as YYYY-MM-DD, for example 2026-12-01.")
    yield* ada.says("2026-12-01")
    expect(yield* ada.reply).toBe("Thanks Ada. Pick a time on 2026-12-01:\n1. 09:00\n2. 11:00\n3. 14:00\n4. 16:00")
    yield* ada.says("11:00")
    expect(yield* ada.reply).toBe("Book Ada on 2026-12-01 at 11:00?\n1. yes\n2. no")
    yield* ada.says("yes")
    const booked = yield* ada.reply
    expect(booked).toMatch(/^Booked ✅ Ada, 2026-12-01 at 11:00\. Your reference is SC-\w{5}\.$/)
    const ref = booked.match(/SC-\w{5}/)![0]
    yield* ada.says("my bookings")
    expect(yield* ada.reply).toBe(`Your bookings:\n• 2026-12-01 at 11:00 for Ada (ref ${ref})`)
  }))

it.effect("sends the reminder when it is due, and not before", () =>
  Effect.gen(function*() {
    const test = yield* clinic("2 hours")
    const ada = test.user("+31612345678")
    const booked = yield* book(ada, "Ada")
    yield* test.advance("119 minutes")
    expect(yield* ada.replies).toEqual([])
    yield* test.advance("1 minute")
    expect(yield* ada.reply).toBe(
      `⏰ Reminder: your appointment on 2026-12-01 at 11:00 (ref ${
        booked.match(/SC-\w{5}/)![0]
      }). Reply cancel if you cannot come.`
    )
  }))

it.effect("a reminder due after the 24 h window goes out as the approved template", () =>
  Effect.gen(function*() {
    const test = yield* clinic("25 hours")
    const ada = test.user("+31612345678")
    yield* book(ada, "Ada")
    yield* test.advance("25 hours")
    const reminder = yield* ada.next
    expect(BotTest.render(reminder.message)).toBe("[template] appointment_reminder")
    expect(reminder.message._tag === "Template" && reminder.message.variables?.[0]).toContain("⏰ Reminder")
  }))

it.effect("cancel ends a booking half-way; nothing is booked and the next message is routed afresh", () =>
  Effect.gen(function*() {
    const test = yield* clinic()
    const ada = test.user("+31612345678")
    yield* ada.says("book")
    yield* ada.says("Ada")
    yield* ada.says("Cancel")
    expect(yield* ada.replies).toEqual([
      "Great, let's book. What's your name?",
      "Which date? Please write it as YYYY-MM-DD.",
      "Okay, cancelled. Type menu to start again."
    ])
    expect((yield* test.chat(ada)).dialog._tag).toBe("None")
    yield* ada.says("my bookings")
    expect(yield* ada.reply).toBe("You have no bookings yet. Type book to make one.")
  }))

it.effect("a restart in the middle of a booking continues at the same question, repeating no prompt", () =>
  Effect.gen(function*() {
    const test = yield* clinic()
    const ada = test.user("+31612345678")
    yield* ada.says("book")
    yield* ada.says("Grace")
    expect(yield* ada.replies).toHaveLength(2)
    yield* test.restart
    yield* ada.says("2026-12-24")
    expect(yield* ada.reply).toContain("Thanks Grace. Pick a time on 2026-12-24:")
    yield* ada.says("1")
    yield* ada.says("yes")
    expect(yield* ada.replies).toEqual([
      "Book Grace on 2026-12-24 at 09:00?\n1. yes\n2. no",
      expect.stringMatching(/^Booked ✅ Grace, 2026-12-24 at 09:00/)
    ])
    expect((yield* test.sent).filter((s) => BotTest.render(s.message).includes("What's your name?"))).toHaveLength(1)
  }))

it.effect("two patients book at once without crossing dialogs; where and photo answer with a pin and a picture", () =>
  Effect.gen(function*() {
    const test = yield* clinic()
    const ada = test.user("+31612345678")
    const bob = test.user("+31687654321")
    yield* ada.says("book")
    yield* bob.says("book")
    yield* ada.says("Ada")
    yield* bob.says("where")
    expect(yield* ada.replies).toEqual([
      "Great, let's book. What's your name?",
      "Which date? Please write it as YYYY-MM-DD."
    ])
    // Bob's dialog is waiting for his name: "where" is his answer, not a route.
    expect(yield* bob.replies).toEqual([
      "Great, let's book. What's your name?",
      "Which date? Please write it as YYYY-MM-DD."
    ])
    yield* bob.says("stop")
    yield* bob.says("where")
    yield* bob.says("photo")
    expect(yield* bob.replies).toEqual([
      "Okay, cancelled. Type menu to start again.",
      "[location] Sunrise Clinic",
      "We are open Monday to Friday, 8:30 to 17:30.",
      "[image] Our waiting room"
    ])
  }))
