/**
 * Store size under steady traffic: 100,000 three-step dialogs (3 webhooks and 3 replies each) through
 * the inbox and the engine on a SQLite file, spread over a simulated fortnight (the engine runs on
 * `TestClock`, advanced an hour at a time). Retention keeps dedupe marks for 2 days and sent messages
 * for 4 (shortened from the defaults, 7 and 30, so that the fortnight spans several windows); the same
 * traffic is also run with nothing pruned (windows longer than the run), as the baseline. Two kinds of
 * users: 5,000 who come back for another dialog now and then, and new users every day (each dialog a user
 * never seen before, who never comes back), with chats of users silent for 3 days pruned and, as the
 * baseline, kept (for a year, the default). Reports the database's bytes on disk after 10,000 and 100,000
 * dialogs and day by day, and the bytes each kept message and each kept chat cost.
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Bot, Capabilities, ChatId, InboundEvent, Inbox, Message, MessagingService } from "@parley/core"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/testing/TestClock"
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { bot } from "./QuestionsBot.js"
import { table } from "./Report.js"

const dialogs = Number(process.env.PARLEY_BENCH_DIALOGS ?? 100_000)
const days = 14
const perHour = Math.ceil(dialogs / (days * 24))
// The bot's users: each comes back for another dialog now and then (a chat's row is kept for good).
const population = 5_000

// A provider that takes every message at once: what is measured is the store.
const messaging = MessagingService.make({
  provider: "bench",
  capabilities: Capabilities.make({ kinds: Message.kinds, replies: Message.kinds }),
  send: () => Effect.sync(() => ({ messageId: `m${crypto.randomUUID()}`, status: "sent" as const }))
}, { retry: false })

interface Sample {
  readonly day: number
  readonly dialogs: number
  readonly bytes: number
  readonly rows: Record<string, number>
}

const run = (retention: Bot.Retention, users: "returning" | "new") =>
  Effect.gen(function*() {
    const dir = mkdtempSync(join(tmpdir(), "parley-bench-retention-"))
    const file = join(dir, "parley.db")
    const context = yield* Layer.build(
      Bot.layer(bot, { pollInterval: "1 hour", retention: { ...retention, every: "1 hour" } }).pipe(
        Layer.provide(Layer.effect(MessagingService.MessagingService, messaging)),
        // The size is the same either way; commits that need not wait for the disk keep the run short.
        Layer.provideMerge(Bot.layerStoreWith({ synchronous: "NORMAL" })),
        Layer.provideMerge(SqliteClient.layer({ filename: file }))
      )
    )
    const inbox = yield* Effect.provide(Inbox.Inbox, context)
    const store = yield* Effect.provide(Inbox.EngineStore, context)
    // The engine commits on its own (real) time: wait until everything accepted is handled.
    const settled = Effect.repeat(
      Effect.andThen(
        Effect.callback<void>((resume) => void setImmediate(() => resume(Effect.void))),
        inbox.pendingCount
      ),
      { until: (pending) => pending === 0 }
    )
    const userOf = (dialog: number) =>
      ChatId.phone(`+3164${String(users === "new" ? dialog : dialog % population).padStart(7, "0")}`)
    const say = (dialog: number, step: number, text: string, now: number) =>
      new InboundEvent.MessageReceived({
        provider: "bench",
        eventId: `d${dialog}-${step}`,
        messageId: `d${dialog}-${step}`,
        chat: userOf(dialog),
        sender: userOf(dialog),
        content: new InboundEvent.TextContent({ text }),
        at: new Date(now)
      })
    const samples: Array<Sample> = []
    const measure = (day: number, done: number) =>
      Effect.gen(function*() {
        const size = yield* store.size
        // The file as it is on disk, with its write-ahead log.
        const wal = (() => {
          try {
            return statSync(`${file}-wal`).size
          } catch {
            return 0
          }
        })()
        samples.push({ day, dialogs: done, bytes: statSync(file).size + wal, rows: size.rows })
      })
    let done = 0
    for (let hour = 0; hour < days * 24 && done < dialogs; hour++) {
      const batch = Array.from({ length: Math.min(perHour, dialogs - done) }, (_, i) => done + i)
      for (const [step, text] of ["start", "a", "b"].entries()) {
        const now = yield* Clock.currentTimeMillis
        yield* inbox.enqueue(batch.map((dialog) => say(dialog, step, text, now)))
        yield* settled
      }
      done += batch.length
      if (done >= 10_000 && done - batch.length < 10_000) yield* measure(hour / 24, done)
      // (The last day is measured once the run ends.)
      if ((hour + 1) % 24 === 0 && hour + 1 < days * 24) yield* measure((hour + 1) / 24, done)
      yield* TestClock.adjust("1 hour")
      yield* settled
    }
    yield* measure(days, done)
    rmSync(dir, { recursive: true, force: true })
    return samples
  }).pipe(Effect.scoped, Effect.provide(TestClock.layer()))

const windows = { dedupe: "2 days", sentMessages: "4 days" } as const
const pruned = await Effect.runPromise(run(windows, "returning"))
const kept = await Effect.runPromise(run({ dedupe: "365 days", sentMessages: "365 days" }, "returning"))
const newKept = await Effect.runPromise(run(windows, "new"))
const newPruned = await Effect.runPromise(run({ ...windows, inactiveChats: "3 days" }, "new"))

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1)
const at = (samples: ReadonlyArray<Sample>, count: number) => samples.find((s) => s.dialogs >= count)!
const row = (name: string, samples: ReadonlyArray<Sample>) => {
  const end = samples.at(-1)!
  return [
    name,
    mb(at(samples, 10_000).bytes),
    mb(end.bytes),
    String(end.rows.inbox),
    String(end.rows.messages),
    String(end.rows.conversations)
  ]
}
table(
  `5. Store size: ${dialogs.toLocaleString("en")} dialogs of ${
    population.toLocaleString("en")
  } users over ${days} simulated days`,
  [
    "store",
    "MB after 10,000 dialogs",
    `MB after ${dialogs.toLocaleString("en")}`,
    "inbox rows",
    "sent-message rows",
    "chat rows"
  ],
  [
    row("returning users: nothing pruned (baseline)", kept),
    row("returning users: retention, dedupe 2 d, sent 4 d", pruned),
    row("new users every day: retention as above, chats kept (baseline)", newKept),
    row("new users every day: retention as above, chats idle 3 d pruned", newPruned)
  ]
)
const byDay = (samples: ReadonlyArray<Sample>) =>
  samples.filter((s) => Number.isInteger(s.day)).map((s) => [
    String(s.day),
    s.dialogs.toLocaleString("en"),
    mb(s.bytes),
    String(s.rows.inbox),
    String(s.rows.messages),
    String(s.rows.conversations)
  ])
const dayColumns = ["day", "dialogs so far", "MB on disk", "inbox rows", "sent-message rows", "chat rows"]
table("Day by day, returning users, with retention", dayColumns, byDay(pruned))
table("Day by day, new users every day, chats idle 3 days pruned", dayColumns, byDay(newPruned))
// What each message costs while it is kept: the baseline's growth per message (3 webhooks and 3 replies
// per dialog) between 10,000 dialogs and the end.
const keptEnd = kept.at(-1)!
const perMessage = (keptEnd.bytes - at(kept, 10_000).bytes) / ((keptEnd.dialogs - at(kept, 10_000).dialogs) * 6)
console.log(
  `\nBytes on disk per message kept (a webhook's inbox row, or a reply's sent-message row): ${
    perMessage.toFixed(0)
  } B.` +
    `\nWith the default windows (dedupe marks 7 days, sent messages 30 days), a bot taking M messages a day and` +
    ` sending as many keeps about 7·M + 30·M rows: ${
      ((37 * 100_000 * perMessage) / 1024 / 1024).toFixed(0)
    } MB at 100,000 messages a day each way, flat from day 30.`
)
// What each chat costs while it is kept: the growth of the new-user run that keeps chats over the one that
// prunes them, per chat kept.
const extraChats = newKept.at(-1)!.rows.conversations! - newPruned.at(-1)!.rows.conversations!
console.log(
  `\nBytes on disk per chat kept (new users every day, chats kept against pruned): ${
    ((newKept.at(-1)!.bytes - newPruned.at(-1)!.bytes) / extraChats).toFixed(0)
  } B.`
)
