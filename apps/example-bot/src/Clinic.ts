/**
 * Sunrise Clinic's bot: a menu, a booking dialog with a durable reminder, "my bookings", where to
 * find the clinic, a photo of it, cancel words and a fallback.
 */
import { Bot, Conversation, Message } from "@parley/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Bookings } from "./Bookings.js"

/** A calendar date written YYYY-MM-DD, that exists. */
export const IsoDate = Schema.String.check(
  Schema.makeFilter((s) => {
    const [year, month, day] = s.trim().split("-").map(Number)
    const valid = /^\d{4}-\d{2}-\d{2}$/.test(s.trim()) &&
      new Date(Date.UTC(year!, month! - 1, day!)).getUTCDate() === day
    return valid || "That is not a date I can read."
  })
)

export const slots = ["09:00", "11:00", "14:00", "16:00"] as const

const menuText = [
  "Welcome to Sunrise Clinic 👋 How can I help?",
  "• book: book an appointment",
  "• my bookings: see your appointments",
  "• where: find the clinic",
  "• photo: see the clinic",
  "Type cancel at any time to stop."
].join("\n")

const menu = Conversation.reply(menuText)

const booking = (reminderDelay: Duration.Duration) =>
  Effect.gen(function*() {
    const chat = yield* Conversation.chat
    const name = yield* Conversation.ask("Great, let's book. What's your name?")
    const date = yield* Conversation.ask("Which date? Please write it as YYYY-MM-DD.", {
      schema: IsoDate,
      retryPrompt: "Please write the date as YYYY-MM-DD, for example 2026-12-01."
    })
    const slot = yield* Conversation.choose(`Thanks ${name}. Pick a time on ${date}:`, slots)
    const confirm = yield* Conversation.choose(`Book ${name} on ${date} at ${slot}?`, ["yes", "no"])
    if (confirm === "no") {
      yield* Conversation.reply("No problem, nothing booked. Type book to start again.")
      return
    }
    const ref = yield* Conversation.step(
      "save",
      Bookings.use((bookings) => bookings.save({ chat: chat.toString(), name, date, slot }))
    )
    yield* Conversation.reply(`Booked ✅ ${name}, ${date} at ${slot}. Your reference is ${ref}.`)
    const now = yield* Conversation.step("booked-at", Clock.currentTimeMillis)
    yield* Conversation.remindAt(
      new Date(now + Duration.toMillis(reminderDelay)),
      `⏰ Reminder: your appointment on ${date} at ${slot} (ref ${ref}). Reply cancel if you cannot come.`
    )
  })

const myBookings = Effect.gen(function*() {
  const chat = yield* Conversation.chat
  const list = yield* Conversation.step(
    "list",
    Bookings.use((bookings) => bookings.forChat(chat.toString()))
  )
  yield* Conversation.reply(
    list.length === 0
      ? "You have no bookings yet. Type book to make one."
      : `Your bookings:\n${list.map((b) => `• ${b.date} at ${b.slot} for ${b.name} (ref ${b.ref})`).join("\n")}`
  )
})

const where = Effect.gen(function*() {
  const chat = yield* Conversation.chat
  yield* Conversation.reply(Message.location(chat, {
    latitude: 52.3676,
    longitude: 4.9041,
    name: "Sunrise Clinic",
    address: "Keizersgracht 123, Amsterdam"
  }))
  yield* Conversation.reply("We are open Monday to Friday, 8:30 to 17:30.")
})

const photo = (mediaBase: string) =>
  Effect.gen(function*() {
    const chat = yield* Conversation.chat
    yield* Conversation.reply(Message.image(chat, { url: `${mediaBase}/clinic.png`, caption: "Our waiting room" }))
  })

const thanksForMedia = Conversation.reply("Thanks, I received your file. A nurse will look at it before your visit.")

// A provider that could not say what was written (the Multisession gateway never does).
const unreadable = Conversation.reply(
  "Sorry, your message did not reach me in a form I can read. Could you write it again?"
)

/** The bot. `mediaBase` serves its images; reminders go out `reminderDelay` after booking. */
export const make = (options: { readonly mediaBase: string; readonly reminderDelay: Duration.Duration }) =>
  Bot.make<Bookings>({
    routes: [
      Bot.keyword(["hi", "hello", "hey", "menu", "start"], menu, { name: "menu" }),
      Bot.keyword("book", booking(options.reminderDelay), { name: "book" }),
      Bot.regex(/^my bookings?\b/i, myBookings, { name: "my-bookings" }),
      Bot.keyword(["where", "address", "location"], where, { name: "where" }),
      Bot.keyword(["photo", "picture"], photo(options.mediaBase), { name: "photo" }),
      Bot.when("media", (event) => event.content._tag === "Media", thanksForMedia),
      Bot.when("unreadable", (event) => event.content._tag === "Unavailable", unreadable)
    ],
    fallback: Conversation.reply("Sorry, I didn't get that. Type menu to see what I can do."),
    cancel: ["cancel", "stop"],
    cancelReply: "Okay, cancelled. Type menu to start again.",
    onStatus: (event) =>
      event.status === "failed"
        ? Effect.logWarning(`message ${event.messageId} failed: ${event.error ?? "unknown reason"}`)
        : Effect.void,
    // Outside the 24 h window only templates reach the user: reminders become the approved template.
    templateFallback: (message) =>
      Message.template(message.to, {
        name: "appointment_reminder",
        language: "en",
        variables: [message._tag === "Text" ? message.text.slice(0, 200) : "You have a message from Sunrise Clinic"]
      })
  })
