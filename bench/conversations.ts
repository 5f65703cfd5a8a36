/**
 * Conversation throughput: simulated users each run a three-step dialog (start → two questions → a
 * summary reply that repeats the first answer) through the whole pipeline: signed webhook → bot →
 * loopback provider. Each bot runs in its own process; the users, the provider and the clock run here.
 *
 * Scenarios pair a think time with a number of dialogs in flight: by default 100 ms with 256 (users
 * who answer as people do) and 0 ms with 200 (each user answers the moment the question reaches the
 * provider: the engine's cost per message, nothing to hide it). The contenders receive the same
 * webhooks and send to the same provider:
 * - BuilderBot 1.3.13 in two variants (peer/builderbot/bot.mjs): its idiomatic `capture` flow, which
 *   drops an answer that arrives before it has recorded the question, and its lossless variant
 *   (`gotoFlow` between one-question flows, a send that does not wait for the provider's answer);
 * - the floor (FloorBot.ts): the same dialog on `@effect/platform` HttpServer + HttpClient and a `Map`;
 * - Parley (ConversationBot.ts) on an SQLite file and on SQLite in memory.
 *
 * Per bot: dialogs done and per second, CPU seconds of the bot process per 1,000 dialogs (utime +
 * stime from /proc), reply latency (webhook sent → reply at the provider), peak RSS, and what went
 * wrong: dialogs lost (a reply that never came), replies duplicated or out of order (per user). This
 * process's own CPU is reported too, to show that the load generator is not the limit.
 *
 * Settings (comma lists): `PARLEY_BENCH_USERS` (1000,10000), `PARLEY_BENCH_THINK_MS` (100,0) and
 * `PARLEY_BENCH_IN_FLIGHT` (256,200), paired into scenarios; `PARLEY_BENCH_BOTS` (all of
 * builderbot-capture, builderbot-goto, floor, parley-file, parley-memory); `PARLEY_BENCH_BUDGET`
 * (180): a bot starts no dialog after that many seconds, and its rate is what it completed in the time
 * it took; `PARLEY_BENCH_REPLY_TIMEOUT` (30): seconds a user waits for a reply before the dialog counts
 * as lost; `PARLEY_BENCH_BEFORE`: the path of another checkout of this repository, installed (e.g. the
 * commit before a change), whose Parley runs beside this one as `parley-file-before` and
 * `parley-memory-before`, for a before/after in one run; `PARLEY_BENCH_WARMUP` (0): dialogs of other users
 * each bot runs in the same scenario before the measured run, to measure it warm.
 */
import { type ChildProcess, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import {
  compiled,
  drive,
  fixed,
  freePort,
  node,
  openAgent,
  ready,
  type Scenario,
  secret,
  stop,
  type Target
} from "./Dialogs.js"
import * as LoopbackProvider from "./LoopbackProvider.js"
import * as OperationCount from "./OperationCount.js"
import { ratio, table } from "./Report.js"

const here = fileURLToPath(new URL(".", import.meta.url))
const peerDir = join(here, "peer", "builderbot")

const numbers = (name: string, fallback: string) => (process.env[name] ?? fallback).split(",").map(Number)
const userCounts = numbers("PARLEY_BENCH_USERS", "1000,10000")
const thinkTimes = numbers("PARLEY_BENCH_THINK_MS", "100,0")
const inFlightCounts = numbers("PARLEY_BENCH_IN_FLIGHT", "256,200")
if (thinkTimes.length !== inFlightCounts.length) {
  throw new Error("PARLEY_BENCH_THINK_MS and PARLEY_BENCH_IN_FLIGHT pair up: give both the same number of values")
}
const scenarios = thinkTimes.map((thinkMs, i) => ({ thinkMs, inFlight: inFlightCounts[i]! }))
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
// The Effect bots count their operations (see OperationCount.ts); BuilderBot has none to count.
const countingOps = process.env.PARLEY_BENCH_OPS !== undefined
const countOps: Record<string, string> = countingOps ? { BENCH_COUNT_OPS: "1" } : {}

interface Contender {
  readonly key: string
  readonly name: string
  readonly start: (port: number, providerUrl: string, dir: string) => Promise<ChildProcess>
}

const builderBot = (variant: "capture" | "goto", name: string): Contender => ({
  key: `builderbot-${variant}`,
  name,
  // It writes its logs to the working directory: give it a temp one.
  start: async (port, providerUrl, dir) =>
    node([join(peerDir, "bot.mjs")], dir, {
      BENCH_PORT: String(port),
      BENCH_PROVIDER_URL: providerUrl,
      BENCH_VARIANT: variant
    })
})

const parley = (store: "file" | "memory", name: string, benchDir = here): Contender => ({
  key: `parley-${store}${benchDir === here ? "" : "-before"}`,
  name,
  start: async (port, providerUrl, dir) =>
    node([await compiled(join(benchDir, "ConversationBot.ts"))], benchDir, {
      BENCH_PORT: String(port),
      BENCH_PROVIDER_URL: providerUrl,
      BENCH_DB: store === "file" ? join(dir, "parley.db") : ":memory:",
      PARLEY_CHATSEND_WEBHOOK_SECRET: secret,
      ...countOps
    })
})

const allContenders: ReadonlyArray<Contender> = [
  builderBot("capture", "BuilderBot 1.3.13, capture flow"),
  builderBot("goto", "BuilderBot 1.3.13, gotoFlow, send not awaited"),
  {
    key: "floor",
    name: "floor: platform HttpServer + HttpClient, Map",
    start: async (port, providerUrl) =>
      node([await compiled(join(here, "FloorBot.ts"))], here, {
        BENCH_PORT: String(port),
        BENCH_PROVIDER_URL: providerUrl,
        BENCH_WEBHOOK_SECRET: secret,
        ...countOps
      })
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

/** Installs the peer on first use (kept out of the workspace install). */
const installPeer = () => {
  if (existsSync(join(peerDir, "node_modules", "@builderbot", "bot"))) return
  console.log("installing @builderbot/bot for the peer (first run only)…")
  const result = spawnSync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd: peerDir,
    stdio: "inherit"
  })
  if (result.status !== 0) throw new Error("could not install @builderbot/bot")
}

const run = async (contender: Contender, users: number, scenario: Scenario) => {
  const provider = await LoopbackProvider.start()
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), "parley-bench-conv-"))
  const child = await contender.start(port, provider.url, dir)
  // Whatever happens, the bot does not outlive its run.
  try {
    await ready(child, contender.name)
    const origin = `http://127.0.0.1:${port}`
    const agent = await openAgent([origin], scenario.inFlight)
    const target: Target = { name: contender.name, children: [child], origins: [origin] }
    // (Not BuilderBot, which has no Effect operations, nor another checkout's Parley, which may not count.)
    const counts = countingOps && (contender.key === "floor" || contender.key === "parley-file" ||
      contender.key === "parley-memory")
    try {
      if (warmUp > 0) {
        await drive({ target, provider, agent, users: warmUp, firstUser: users, scenario, budgetSeconds, replyTimeout })
      }
      const before = counts ? await OperationCount.read(child) : undefined
      const result = await drive({ target, provider, agent, users, scenario, budgetSeconds, replyTimeout })
      const ops = before === undefined
        ? undefined
        : OperationCount.perEvent(before, await OperationCount.read(child), Math.max(1, result.done * 3))
      return { ...result, ops }
    } finally {
      await agent.destroy()
    }
  } finally {
    await stop(child)
    await provider.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

const versus = (value: number, base: number | undefined) =>
  base === undefined || !Number.isFinite(value) || !Number.isFinite(base) ? "-" : ratio(value, base)

installPeer()
for (const scenario of scenarios) {
  for (const users of userCounts) {
    const results = []
    for (const contender of contenders) results.push({ contender, ...await run(contender, users, scenario) })
    const peer = results.find((r) => r.contender.key === "builderbot-goto")
    const floor = results.find((r) => r.contender.key === "floor")
    table(
      `2. Conversation throughput: ${
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
        versus(r.perSecond, peer?.perSecond),
        versus(r.perSecond, floor?.perSecond),
        fixed(r.cpuPerThousand, 1),
        versus(r.cpuPerThousand, peer?.cpuPerThousand),
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
    // What bounds every bot here, whatever it is built on: the think time, and the stack itself.
    if (scenario.thinkMs > 0) {
      console.log(
        `- No bot can pass ${
          Math.floor(scenario.inFlight / (2 * scenario.thinkMs / 1000)).toLocaleString("en")
        } dialogs/s here: each of the ${scenario.inFlight} dialogs in flight spends at least 2 × ${scenario.thinkMs} ms thinking.`
      )
    }
    if (peer !== undefined && floor !== undefined) {
      console.log(
        `- The floor (our stack with no framework) ran at ${ratio(floor.perSecond, peer.perSecond)} BuilderBot's rate` +
          ` with ${fixed(floor.cpuPerThousand, 1)} CPU-s per 1k dialogs: Parley, which also stores and orders every` +
          " event, is bounded by it."
      )
    }
    if (countingOps) {
      console.log(
        "\nEffect operations per event (3 per dialog completed), by span (counting slows the bots: timings above are not comparable):"
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
console.log(
  `\nA bot starts no dialog after ${budgetSeconds} s; a dialog whose reply has not come ${
    replyTimeout / 1000
  } s after the user's message is lost.` +
    (warmUp > 0
      ? `\nEach bot ran ${warmUp.toLocaleString("en")} dialogs of other users before the measured run (warm-up).`
      : "") +
    "\nRatios are to BuilderBot's gotoFlow variant (the one that loses nothing) and to the floor; CPU is the bot process's (utime + stime)." +
    "\nParley and the floor verify each webhook's HMAC; Parley also stores it before answering 200. BuilderBot does neither." +
    "\nTargets (100 ms think time): Parley >= BuilderBot's throughput while durable, >= 2x with the in-memory store." +
    "\nTargets (0 ms think time, issue 10): Parley on an SQLite file >= 0.5x BuilderBot's dialogs/s (aim 1x), CPU per dialog <= 2x the floor's," +
    " reply p99 <= 2x BuilderBot's, peak RSS <= 300 MB, nothing lost, duplicated or out of order; in memory >= 1x BuilderBot."
)
