/**
 * Conversation throughput: simulated users each run a three-step dialog (start → two questions → a
 * summary reply that repeats the first answer) through the whole pipeline: signed webhook → bot →
 * loopback provider. Each bot runs in its own process; the users, the provider and the clock run here.
 *
 * Scenarios pair a think time with a number of dialogs in flight: by default 100 ms with 256 (users
 * who answer as people do) and 0 ms with 200 (each user answers the moment the question reaches the
 * provider: the engine's cost per message, nothing to hide it). Each scenario runs in both webhook shapes
 * (Dialogs.ts): WAHA's, as ChatSend posts it, and Meta's Cloud API envelope; the bots reply in the
 * matching API (ChatSend's `/sendText`, the Graph API's `/{version}/{phone-number-id}/messages`). The
 * contenders receive the same webhooks and send to the same provider:
 * - BuilderBot 1.3.13 in two variants (peer/builderbot/bot.mjs, a custom provider for either shape): its
 *   idiomatic `capture` flow, which drops an answer that arrives before it has recorded the question, and
 *   its lossless variant (`gotoFlow` between one-question flows, a send that does not wait for the
 *   provider's answer);
 * - Vercel's Chat SDK 4.41.1 with its WhatsApp adapter (peer/chat-sdk/bot.mjs; Meta's shape only, as the
 *   adapter speaks nothing else), with its concurrency strategy `queue` and with its default, `drop`,
 *   which loses a message that arrives while the chat's previous one is being handled;
 * - the floor (FloorBot.ts): the same dialog on Effect 4's HTTP server and client and a `Map`, and the same
 *   floor on Effect 3.22 (peer/floor-effect3/FloorBot.mts, as it was before the move; WAHA's shape only);
 * - Parley (ConversationBot.ts, on `@parley/chatsend` or `@parley/meta`) on an SQLite file and on SQLite
 *   in memory.
 *
 * Per bot: dialogs done and per second, CPU seconds of the bot process per 1,000 dialogs (utime +
 * stime from /proc), reply latency (webhook sent → reply at the provider), peak RSS, and what went
 * wrong: dialogs lost (a reply that never came), replies duplicated or out of order (per user). This
 * process's own CPU is reported too, to show that the load generator is not the limit. Under each table,
 * the ratios the targets need (Parley on a file against BuilderBot, Chat SDK `queue` and the Effect 3
 * floor; its peak RSS against 300 MB; the floor on Effect 4 against Effect 3).
 *
 * Settings (comma lists): `PARLEY_BENCH_USERS` (1000,10000), `PARLEY_BENCH_THINK_MS` (100,0) and
 * `PARLEY_BENCH_IN_FLIGHT` (256,200), paired into scenarios; `PARLEY_BENCH_SHAPES` (waha,meta);
 * `PARLEY_BENCH_BOTS` (all of builderbot-capture, builderbot-goto, chat-sdk-queue, chat-sdk, floor,
 * floor-effect3, parley-file, parley-memory); `PARLEY_BENCH_BUDGET` (180): a bot starts no dialog after
 * that many seconds, and its rate is what it completed in the time it took; `PARLEY_BENCH_REPLY_TIMEOUT`
 * (30): seconds a user waits for a reply before the dialog counts as lost; `PARLEY_BENCH_BEFORE`: the path
 * of another checkout of this repository, installed (e.g. the commit before a change), whose Parley runs
 * beside this one as `parley-file-before` and `parley-memory-before`, for a before/after in one run (in
 * Meta's shape only if its ConversationBot.ts reads `BENCH_SHAPE`); `PARLEY_BENCH_WARMUP` (0): dialogs of
 * other users each bot runs in the same scenario before the measured run, to measure it warm;
 * `PARLEY_BENCH_OPS`: the Effect 4 bots count their run-loop steps (OperationCount.ts).
 */
import { type ChildProcess, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import {
  compiled,
  drive,
  fixed,
  freePort,
  metaPhoneNumberId,
  node,
  openAgent,
  ready,
  type Result,
  type Scenario,
  secret,
  type Shape,
  stop,
  type Target
} from "./Dialogs.js"
import * as LoopbackProvider from "./LoopbackProvider.js"
import * as OperationCount from "./OperationCount.js"
import { ratio, table } from "./Report.js"

const here = fileURLToPath(new URL(".", import.meta.url))

const list = (name: string, fallback: string) => (process.env[name] ?? fallback).split(",").map((s) => s.trim())
const numbers = (name: string, fallback: string) => list(name, fallback).map(Number)
const userCounts = numbers("PARLEY_BENCH_USERS", "1000,10000")
const thinkTimes = numbers("PARLEY_BENCH_THINK_MS", "100,0")
const inFlightCounts = numbers("PARLEY_BENCH_IN_FLIGHT", "256,200")
if (thinkTimes.length !== inFlightCounts.length) {
  throw new Error("PARLEY_BENCH_THINK_MS and PARLEY_BENCH_IN_FLIGHT pair up: give both the same number of values")
}
const scenarios = thinkTimes.map((thinkMs, i) => ({ thinkMs, inFlight: inFlightCounts[i]! }))
const shapes = list("PARLEY_BENCH_SHAPES", "waha,meta")
const unknownShapes = shapes.filter((shape) => shape !== "waha" && shape !== "meta")
if (unknownShapes.length > 0) {
  throw new Error(`PARLEY_BENCH_SHAPES: unknown ${unknownShapes.join(", ")}; choose from waha, meta`)
}
const budgetSeconds = Number(process.env.PARLEY_BENCH_BUDGET ?? 180)
const before = process.env.PARLEY_BENCH_BEFORE === undefined ? undefined : {
  dir: process.env.PARLEY_BENCH_BEFORE,
  label: spawnSync("git", ["-C", process.env.PARLEY_BENCH_BEFORE, "rev-parse", "--short", "HEAD"], {
    encoding: "utf8"
  }).stdout.trim()
}
const replyTimeout = Number(process.env.PARLEY_BENCH_REPLY_TIMEOUT ?? 30) * 1000
// Dialogs of other users each bot runs, in the same scenario, before the measured run: its figures then
// show the bot warm (its code compiled, its caches filled) rather than as it starts.
const warmUp = Number(process.env.PARLEY_BENCH_WARMUP ?? 0)
// The Effect 4 bots count their run-loop steps (see OperationCount.ts); the others have none to count.
const countingOps = process.env.PARLEY_BENCH_OPS !== undefined
const countOps: Record<string, string> = countingOps ? { BENCH_COUNT_OPS: "1" } : {}
const counts = (key: string) => countingOps && ["floor", "parley-file", "parley-memory"].includes(key)

/** A peer framework, installed on first use into its folder with npm (kept out of the workspace install). */
interface Peer {
  readonly name: string
  /** Its folder under bench/peer. */
  readonly folder: string
  readonly dir: string
  /** A path under `node_modules` that exists once it is installed. */
  readonly installed: string
}
const peer = (folder: string, installed: string, name: string): Peer => ({
  name,
  folder,
  dir: join(here, "peer", folder),
  installed
})
const builderBotPeer = peer("builderbot", "@builderbot/bot", "@builderbot/bot 1.3.13")
const chatSdkPeer = peer("chat-sdk", "@chat-adapter/whatsapp", "chat 4.41.1 and @chat-adapter/whatsapp 4.41.1")
const effect3Peer = peer("floor-effect3", "@effect/platform-node", "effect 3.22.4 and @effect/platform 0.97.2")

interface Contender {
  readonly key: string
  readonly name: string
  /** The webhook shapes it speaks. */
  readonly shapes: ReadonlyArray<Shape>
  readonly peer?: Peer | undefined
  readonly start: (port: number, providerUrl: string, dir: string, shape: Shape) => Promise<ChildProcess>
}

/** What every bot is told: where to listen, where to send, the shape, the secret, the Meta number. */
const common = (port: number, providerUrl: string, shape: Shape) => ({
  BENCH_PORT: String(port),
  BENCH_PROVIDER_URL: providerUrl,
  BENCH_SHAPE: shape,
  BENCH_WEBHOOK_SECRET: secret,
  BENCH_META_PHONE_NUMBER_ID: metaPhoneNumberId
})

const builderBot = (variant: "capture" | "goto", name: string): Contender => ({
  key: `builderbot-${variant}`,
  name,
  shapes: ["waha", "meta"],
  peer: builderBotPeer,
  // It writes its logs to the working directory: give it a temp one.
  start: async (port, providerUrl, dir, shape) =>
    node([join(builderBotPeer.dir, "bot.mjs")], dir, { ...common(port, providerUrl, shape), BENCH_VARIANT: variant })
})

const chatSdk = (concurrency: "queue" | "default", name: string): Contender => ({
  key: concurrency === "queue" ? "chat-sdk-queue" : "chat-sdk",
  name,
  shapes: ["meta"],
  peer: chatSdkPeer,
  start: async (port, providerUrl, dir, shape) =>
    node([join(chatSdkPeer.dir, "bot.mjs")], dir, {
      ...common(port, providerUrl, shape),
      ...(concurrency === "queue" ? { BENCH_CONCURRENCY: "queue" } : {})
    })
})

/** Whether another checkout's ConversationBot.ts can run in Meta's shape (it reads `BENCH_SHAPE`). */
const speaksMeta = (benchDir: string) => {
  try {
    return readFileSync(join(benchDir, "ConversationBot.ts"), "utf8").includes("BENCH_SHAPE")
  } catch {
    return false
  }
}

const parley = (store: "file" | "memory", name: string, benchDir = here): Contender => ({
  key: `parley-${store}${benchDir === here ? "" : "-before"}`,
  name,
  shapes: speaksMeta(benchDir) ? ["waha", "meta"] : ["waha"],
  start: async (port, providerUrl, dir, shape) =>
    node([await compiled(join(benchDir, "ConversationBot.ts"))], benchDir, {
      ...common(port, providerUrl, shape),
      BENCH_DB: store === "file" ? join(dir, "parley.db") : ":memory:",
      // Each provider package configured as an app configures it (ChatSendWebhook.makeConfig,
      // MetaWebhook.makeConfig, Meta.layerConfig).
      PARLEY_CHATSEND_WEBHOOK_SECRET: secret,
      PARLEY_META_APP_SECRET: secret,
      PARLEY_META_VERIFY_TOKEN: "bench-verify-token",
      PARLEY_META_PHONE_NUMBER_ID: metaPhoneNumberId,
      PARLEY_META_ACCESS_TOKEN: "bench-access-token",
      PARLEY_META_BASE_URL: providerUrl,
      ...(benchDir === here ? countOps : {})
    })
})

const allContenders: ReadonlyArray<Contender> = [
  builderBot("capture", "BuilderBot 1.3.13, capture flow"),
  builderBot("goto", "BuilderBot 1.3.13, gotoFlow, send not awaited"),
  chatSdk("queue", "Chat SDK 4.41.1, queue"),
  chatSdk("default", "Chat SDK 4.41.1, drop (its default)"),
  {
    key: "floor",
    name: "floor: Effect 4.1 HttpServer + HttpClient, Map",
    shapes: ["waha", "meta"],
    start: async (port, providerUrl, _dir, shape) =>
      node([await compiled(join(here, "FloorBot.ts"))], here, { ...common(port, providerUrl, shape), ...countOps })
  },
  {
    key: "floor-effect3",
    name: "floor on Effect 3.22: platform HttpServer + HttpClient, Map",
    shapes: ["waha"],
    peer: effect3Peer,
    start: async (port, providerUrl, _dir, shape) =>
      node([await compiled(join(effect3Peer.dir, "FloorBot.mts"))], effect3Peer.dir, common(port, providerUrl, shape))
  },
  parley("file", "Parley, SQLite file (durable)"),
  parley("memory", "Parley, SQLite in memory"),
  // Before/after in one run: another checkout's Parley (installed), e.g. the commit before a change.
  ...(before === undefined ? [] : [
    parley("file", `Parley before (${before.label}), SQLite file`, join(before.dir, "bench")),
    parley("memory", `Parley before (${before.label}), SQLite in memory`, join(before.dir, "bench"))
  ])
]
const chosenKeys = process.env.PARLEY_BENCH_BOTS?.split(",").map((key) => key.trim())
const unknownKeys = chosenKeys?.filter((key) => !allContenders.some((c) => c.key === key)) ?? []
if (unknownKeys.length > 0) {
  throw new Error(
    `PARLEY_BENCH_BOTS: unknown ${unknownKeys.join(", ")}; choose from ${allContenders.map((c) => c.key).join(", ")}`
  )
}
const contenders = allContenders.filter((c) => chosenKeys === undefined || chosenKeys.includes(c.key))

/** Installs a peer on first use, with npm, from its own package.json and lockfile. */
const installPeer = (peer: Peer) => {
  if (existsSync(join(peer.dir, "node_modules", peer.installed))) return
  console.log(`installing ${peer.name} into bench/peer/${peer.folder} (first run only)…`)
  const result = spawnSync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd: peer.dir,
    stdio: "inherit"
  })
  if (result.status !== 0) throw new Error(`could not install ${peer.name}`)
}

interface Run extends Result {
  readonly contender: Contender
  readonly ops: ReturnType<typeof OperationCount.perEvent> | undefined
}

const run = async (contender: Contender, users: number, scenario: Scenario, shape: Shape): Promise<Run> => {
  const provider = await LoopbackProvider.start()
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), "parley-bench-conv-"))
  const child = await contender.start(port, provider.url, dir, shape)
  // Whatever happens, the bot does not outlive its run.
  try {
    await ready(child, contender.name)
    const origin = `http://127.0.0.1:${port}`
    const agent = await openAgent([origin], scenario.inFlight)
    const target: Target = { name: contender.name, children: [child], origins: [origin] }
    const driven = { target, provider, agent, scenario, shape, budgetSeconds, replyTimeout }
    try {
      if (warmUp > 0) await drive({ ...driven, users: warmUp, firstUser: users })
      const start = counts(contender.key) ? await OperationCount.read(child) : undefined
      const result = await drive({ ...driven, users })
      const ops = start === undefined
        ? undefined
        : OperationCount.perEvent(start, await OperationCount.read(child), Math.max(1, result.done * 3))
      return { contender, ...result, ops }
    } finally {
      await agent.destroy()
    }
  } finally {
    await stop(child)
    await provider.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

const versus = (value: number | undefined, base: number | undefined) =>
  value === undefined || base === undefined || !Number.isFinite(value) || !Number.isFinite(base)
    ? "-"
    : ratio(value, base)

/** The issue's targets for Parley on an SQLite file, by the number of users (none at other counts). */
const rateTarget = (users: number) => users === 1000 ? 1.2 : users === 10_000 ? 2 : undefined
const rssTarget = 300
const verdict = (met: boolean) => met ? "met" : "MISSED"
const shapeName = { waha: "WAHA webhooks (ChatSend)", meta: "Meta Cloud API webhooks" } as const

// The peers of the bots that will run (in at least one of the shapes chosen).
const running = contenders.filter((c) => c.shapes.some((shape) => shapes.includes(shape)))
for (const needed of new Set(running.flatMap((c) => c.peer === undefined ? [] : [c.peer]))) installPeer(needed)

// Every run, by scenario, users and shape: the Meta tables refer to the Effect 3 floor of the WAHA one.
const allRuns = new Map<string, ReadonlyArray<Run>>()
const runKey = (scenario: Scenario, users: number, shape: Shape) =>
  `${scenario.thinkMs}/${scenario.inFlight}/${users}/${shape}`

for (const scenario of scenarios) {
  for (const users of userCounts) {
    for (const shape of shapes as ReadonlyArray<Shape>) {
      const results: Array<Run> = []
      for (const contender of contenders) {
        if (contender.shapes.includes(shape)) results.push(await run(contender, users, scenario, shape))
      }
      if (results.length === 0) continue
      allRuns.set(runKey(scenario, users, shape), results)
      const find = (key: string) => results.find((r) => r.contender.key === key)
      const builderbot = find("builderbot-goto")
      const floor = find("floor")
      table(
        `2. Conversation throughput, ${shapeName[shape]}: ${
          users.toLocaleString("en")
        } users × 3-step dialog, ${scenario.inFlight} in flight, ${scenario.thinkMs} ms think time`,
        [
          "bot",
          "dialogs done",
          "dialogs/s",
          "vs BuilderBot",
          "vs floor",
          "CPU-s per 1k dialogs",
          "CPU vs BuilderBot",
          "CPU vs floor",
          "reply p50 ms",
          "reply p99 ms",
          "peak RSS MB",
          "lost",
          "duplicated",
          "out of order"
        ],
        results.map((r) => [
          r.contender.name,
          r.done.toLocaleString("en"),
          r.perSecond.toFixed(0),
          versus(r.perSecond, builderbot?.perSecond),
          versus(r.perSecond, floor?.perSecond),
          fixed(r.cpuPerThousand, 1),
          versus(r.cpuPerThousand, builderbot?.cpuPerThousand),
          versus(r.cpuPerThousand, floor?.cpuPerThousand),
          fixed(r.p50, 1),
          fixed(r.p99, 1),
          (r.rss / 1024 / 1024).toFixed(0),
          r.crashed ? `${r.lost} (bot crashed)` : String(r.lost),
          String(r.duplicated),
          String(r.outOfOrder)
        ])
      )
      console.log("")
      for (const r of results) {
        const anomalies = [
          r.wrong > 0 && `${r.wrong} wrong replies`,
          r.late > 0 && `${r.late} replies after their user gave up`,
          r.rejected > 0 && `${r.rejected} webhooks answered other than 200`,
          r.failedRequests > 0 && `${r.failedRequests} webhooks failed`
        ].filter(Boolean)
        console.log(
          `- ${r.contender.name}: its main thread was busy ${fixed(r.mainThreadBusy * 100, 0)}% of the run;` +
            ` this process (users + loopback provider) used ${fixed(r.benchCpuPerThousand, 1)} CPU-s per 1k dialogs,` +
            ` ${(r.benchCore * 100).toFixed(0)}% of one core` +
            (anomalies.length > 0 ? `; ${anomalies.join(", ")}` : "")
        )
      }
      // What bounds every bot here, whatever it is built on: the think time.
      if (scenario.thinkMs > 0) {
        console.log(
          `- No bot can pass ${
            Math.floor(scenario.inFlight / (2 * scenario.thinkMs / 1000)).toLocaleString("en")
          } dialogs/s here: each of the ${scenario.inFlight} dialogs in flight spends at least 2 × ${scenario.thinkMs} ms thinking.`
        )
      }

      // The ratios the targets need.
      const parleyFile = find("parley-file")
      const chatSdkQueue = find("chat-sdk-queue")
      // The Effect 3 floor speaks WAHA only: in Meta's shape, its run in WAHA's shape, same scenario and users.
      const effect3 = find("floor-effect3") ??
        allRuns.get(runKey(scenario, users, "waha"))?.find((r) => r.contender.key === "floor-effect3")
      const effect3Note = find("floor-effect3") === undefined ? " (its run with WAHA webhooks: it speaks no other)" : ""
      const target = rateTarget(users)
      const targets: Array<string> = []
      const rate = (base: Run | undefined, name: string) => {
        if (parleyFile === undefined || base === undefined) return
        const x = parleyFile.perSecond / base.perSecond
        targets.push(
          `- Parley (file) vs ${name}: ${x.toFixed(2)}x the dialogs/s` +
            (target === undefined ? "" : ` (target >= ${target}x at this number of users: ${verdict(x >= target)})`)
        )
      }
      rate(builderbot, "BuilderBot (gotoFlow)")
      rate(chatSdkQueue, "Chat SDK (queue)")
      if (parleyFile !== undefined && effect3 !== undefined) {
        const x = parleyFile.cpuPerThousand / effect3.cpuPerThousand
        targets.push(
          `- Parley (file) CPU per dialog vs the Effect 3 floor${effect3Note}: ${x.toFixed(2)}x (${
            fixed(parleyFile.cpuPerThousand, 1)
          } vs ${fixed(effect3.cpuPerThousand, 1)} CPU-s per 1k dialogs; target <= 1x: ${verdict(x <= 1)})`
        )
      }
      for (const r of results.filter((r) => r.contender.key.startsWith("parley-"))) {
        const mb = r.rss / 1024 / 1024
        const clean = r.lost + r.duplicated + r.outOfOrder === 0 && !r.crashed
        targets.push(
          `- ${r.contender.name}: peak RSS ${mb.toFixed(0)} MB (target <= ${rssTarget} MB: ${
            verdict(mb <= rssTarget)
          }); lost, duplicated, out of order: ${r.lost}, ${r.duplicated}, ${r.outOfOrder} (target 0: ${verdict(clean)})`
        )
      }
      const parleyBefore = find("parley-file-before")
      if (parleyFile !== undefined && parleyBefore !== undefined) {
        targets.push(
          `- Parley (file) vs ${parleyBefore.contender.name}: ${
            ratio(parleyFile.perSecond, parleyBefore.perSecond)
          } the dialogs/s, ${
            ratio(parleyFile.cpuPerThousand, parleyBefore.cpuPerThousand)
          } the CPU per dialog (the factor \`pnpm bench scale\` compares its own with)`
        )
      }
      if (floor !== undefined && effect3 !== undefined) {
        targets.push(
          `- The floor on Effect 4 vs on Effect 3${effect3Note}: ${
            ratio(floor.perSecond, effect3.perSecond)
          } the dialogs/s,` +
            ` ${ratio(floor.cpuPerThousand, effect3.cpuPerThousand)} the CPU per dialog`
        )
      }
      if (targets.length > 0) console.log(`\nTargets:\n${targets.join("\n")}`)
      if (countingOps) {
        console.log(
          "\nEffect run-loop steps per event (3 per dialog completed), by span (counting slows the bots: timings above are not comparable):"
        )
        for (const r of results) {
          if (r.ops === undefined) continue
          console.log(
            `- ${r.contender.name}: ${r.ops.total.toFixed(0)} (${
              r.ops.bySpan.map(([span, count]) => `${span} ${count.toFixed(0)}`).join(", ")
            })`
          )
        }
      }
    }
  }
}
console.log(
  `\nA bot starts no dialog after ${budgetSeconds} s; a dialog whose reply has not come ${
    replyTimeout / 1000
  } s after the user's message is lost.` +
    (warmUp > 0
      ? `\nEach bot ran ${warmUp.toLocaleString("en")} dialogs of other users before the measured run (warm-up).`
      : "") +
    "\nRatios are to BuilderBot's gotoFlow variant (the one that loses nothing) and to the floor on Effect 4; CPU is the bot process's (utime + stime)." +
    "\nParley, the floors and Chat SDK verify each webhook's signature; Parley also stores it before answering 200. BuilderBot does neither." +
    "\nTargets (Parley on an SQLite file, in every scenario and shape): >= 1.2x BuilderBot's and Chat SDK (queue)'s dialogs/s at 1,000 users," +
    " >= 2x both at 10,000; CPU per dialog <= the Effect 3 floor's; peak RSS <= 300 MB with Node's defaults; nothing lost," +
    " duplicated or out of order."
)
