/**
 * Idle dialogs: 100,000 dialogs waiting for an answer, opened through the inbox and the engine on
 * SQLite, after 2,000 more to warm up. Reports the live heap each waiting dialog costs, and how long
 * one takes to resume when its answer arrives. Baseline: the same number of dialogs each held as a parked fiber (a fiber waiting
 * on a `Deferred`), as an engine that keeps dialogs in memory would.
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Bot, Capabilities, ChatId, Conversation, InboundEvent, Inbox, Message, MessagingService } from "@parley/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { collect, now, quantile, table } from "./Report.js"

const dialogs = Number(process.env.PARLEY_BENCH_DIALOGS ?? 100_000)
const resumes = 200
const warmup = 2_000
const heap = () => {
  collect()
  collect()
  return process.memoryUsage().heapUsed
}
const chat = (user: number) => ChatId.phone(`+3164${String(user).padStart(7, "0")}`)

// Baseline: one parked fiber per waiting dialog.
const fiberHeap = await Effect.runPromise(Effect.gen(function*() {
  const before = heap()
  const answers = yield* Effect.forEach(Array.from({ length: dialogs }), () => Deferred.make<string>())
  const fibers = yield* Effect.forEach(answers, (answer) =>
    Effect.forkChild(Effect.gen(function*() {
      const text = yield* Deferred.await(answer)
      return text.length
    })))
  yield* Effect.yieldNow
  const after = heap()
  yield* Effect.forEach(answers, (answer) => Deferred.succeed(answer, "done"), { discard: true })
  yield* Fiber.joinAll(fibers)
  return (after - before) / dialogs
}))

// Parley: the engine, its prompts sent through a service that answers at once.
const dir = mkdtempSync(join(tmpdir(), "parley-bench-idle-"))
const sent = new Map<string, (text: string) => void>()
let prompts = 0
let target = 0
let reached: () => void = () => {}
const promptsSent = (count: number) => {
  target = count
  return new Promise<void>((resolve) => reached = resolve)
}
const messaging = MessagingService.make({
  provider: "bench",
  capabilities: Capabilities.make({ kinds: Message.kinds, replies: Message.kinds }),
  send: (message) =>
    Effect.sync(() => {
      const text = message._tag === "Text" ? message.text : ""
      if (text === "Your name?" && ++prompts === target) reached()
      sent.get(message.to.toString())?.(text)
      return { messageId: `out-${prompts}`, status: "sent" as const }
    })
}, { retry: false })
const bot = Bot.make({
  routes: [
    Bot.keyword(
      "start",
      Effect.gen(function*() {
        const name = yield* Conversation.ask("Your name?")
        yield* Conversation.reply(`Thanks ${name}`)
      }),
      { name: "greeting" }
    )
  ]
})
const runtime = ManagedRuntime.make(
  Bot.layer(bot, { pollInterval: "1 hour" }).pipe(
    Layer.provide(Layer.effect(MessagingService.MessagingService, messaging)),
    Layer.provideMerge(Bot.layerStore),
    Layer.provideMerge(SqliteClient.layer({ filename: join(dir, "parley.db") }))
  )
)
const inbox = await runtime.runPromise(Inbox.Inbox)
const message = (user: number, text: string, n: number) =>
  new InboundEvent.MessageReceived({
    provider: "bench",
    eventId: `u${user}-${n}`,
    messageId: `u${user}-${n}`,
    chat: chat(user),
    sender: chat(user),
    content: new InboundEvent.TextContent({ text }),
    at: new Date()
  })

const open = async (from: number, count: number) => {
  for (let user = from; user < from + count; user += 1_000) {
    const batch = Array.from({ length: Math.min(1_000, from + count - user) }, (_, i) => message(user + i, "start", 0))
    await runtime.runPromise(inbox.enqueue(batch))
  }
}
// Warm up first (code, caches, SQLite's statement cache), so the heap measured is the dialogs'.
const warmedUp = promptsSent(warmup)
await open(dialogs, warmup)
await warmedUp
const before = heap()
const opened = now()
const allWaiting = promptsSent(warmup + dialogs)
await open(0, dialogs)
await allWaiting
const openSeconds = (now() - opened) / 1000
const parleyHeap = (heap() - before) / dialogs

const latencies: Array<number> = []
for (let i = 0; i < resumes; i++) {
  const user = Math.floor((i * dialogs) / resumes)
  const t = now()
  const replied = new Promise<void>((resolve) => sent.set(chat(user).toString(), () => resolve()))
  await runtime.runPromise(inbox.enqueue([message(user, `Ada ${user}`, 1)]))
  await replied
  latencies.push(now() - t)
}
await runtime.dispose()
rmSync(dir, { recursive: true, force: true })

table(`3. Idle dialogs: ${dialogs.toLocaleString("en")} dialogs waiting for an answer`, [
  "dialogs held as",
  "heap per waiting dialog",
  "vs baseline",
  "resume p50 ms",
  "resume p99 ms"
], [
  ["parked fibers (baseline)", `${fiberHeap.toFixed(0)} B`, "1.00x", "-", "-"],
  [
    "Parley journal (SQLite)",
    `${parleyHeap.toFixed(0)} B`,
    `${(parleyHeap / fiberHeap).toFixed(2)}x`,
    quantile(latencies, 0.5).toFixed(3),
    quantile(latencies, 0.99).toFixed(3)
  ]
])
console.log(
  `\nOpening them took ${openSeconds.toFixed(1)} s (${(dialogs / openSeconds).toFixed(0)} dialogs/s).` +
    `\nTarget: <= 1 KB of heap per waiting dialog. Measured: ${parleyHeap.toFixed(0)} B.`
)
