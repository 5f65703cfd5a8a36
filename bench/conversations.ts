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
 * as lost.
 */
import { ProviderWebhook } from "@parley/core/provider"
import * as Redacted from "effect/Redacted"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Agent, type Dispatcher } from "undici"
import * as LoopbackProvider from "./LoopbackProvider.js"
import { now, quantile, ratio, table } from "./Report.js"

const here = fileURLToPath(new URL(".", import.meta.url))
const peerDir = join(here, "peer", "builderbot")
const secret = "bench-webhook-secret"
const hmac = { secret: Redacted.make(secret), header: "X-Webhook-Hmac", algorithm: "sha512" } as const

const numbers = (name: string, fallback: string) => (process.env[name] ?? fallback).split(",").map(Number)
const userCounts = numbers("PARLEY_BENCH_USERS", "1000,10000")
const thinkTimes = numbers("PARLEY_BENCH_THINK_MS", "100,0")
const inFlightCounts = numbers("PARLEY_BENCH_IN_FLIGHT", "256,200")
if (thinkTimes.length !== inFlightCounts.length) {
  throw new Error("PARLEY_BENCH_THINK_MS and PARLEY_BENCH_IN_FLIGHT pair up: give both the same number of values")
}
const scenarios = thinkTimes.map((thinkMs, i) => ({ thinkMs, inFlight: inFlightCounts[i]! }))
const budgetSeconds = Number(process.env.PARLEY_BENCH_BUDGET ?? 180)
const replyTimeout = Number(process.env.PARLEY_BENCH_REPLY_TIMEOUT ?? 30) * 1000

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0))
    })
  })

/** The process's peak RSS so far (0 once it has exited). */
const peakRss = (pid: number) => {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmHWM:"))
    return Number(line?.replace(/\D+/g, "") ?? 0) * 1024
  } catch {
    return 0
  }
}

const clockTicks = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim())

/**
 * CPU seconds (user + system) used so far by a process (`/proc/<pid>/stat`, all its threads) or one
 * thread (`/proc/<pid>/task/<tid>/stat`); NaN once it has exited.
 */
const cpuSeconds = (statPath: string) => {
  try {
    const stat = readFileSync(statPath, "utf8")
    // Counted from field 3, after the command name (which may hold spaces): utime is field 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / clockTicks
  } catch {
    return Number.NaN
  }
}

interface Contender {
  readonly key: string
  readonly name: string
  readonly start: (port: number, providerUrl: string, dir: string) => ChildProcess
}

const node = (args: ReadonlyArray<string>, cwd: string, env: Record<string, string>) =>
  spawn(process.execPath, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] })

const builderBot = (variant: "capture" | "goto", name: string): Contender => ({
  key: `builderbot-${variant}`,
  name,
  // It writes its logs to the working directory: give it a temp one.
  start: (port, providerUrl, dir) =>
    node([join(peerDir, "bot.mjs")], dir, {
      BENCH_PORT: String(port),
      BENCH_PROVIDER_URL: providerUrl,
      BENCH_VARIANT: variant
    })
})

const parley = (store: "file" | "memory", name: string): Contender => ({
  key: `parley-${store}`,
  name,
  start: (port, providerUrl, dir) =>
    node(["--import", "tsx", join(here, "ConversationBot.ts")], here, {
      BENCH_PORT: String(port),
      BENCH_PROVIDER_URL: providerUrl,
      BENCH_DB: store === "file" ? join(dir, "parley.db") : ":memory:",
      PARLEY_CHATSEND_WEBHOOK_SECRET: secret
    })
})

const allContenders: ReadonlyArray<Contender> = [
  builderBot("capture", "BuilderBot 1.3.13, capture flow"),
  builderBot("goto", "BuilderBot 1.3.13, gotoFlow, send not awaited"),
  {
    key: "floor",
    name: "floor: platform HttpServer + HttpClient, Map",
    start: (port, providerUrl) =>
      node(["--import", "tsx", join(here, "FloorBot.ts")], here, {
        BENCH_PORT: String(port),
        BENCH_PROVIDER_URL: providerUrl,
        BENCH_WEBHOOK_SECRET: secret
      })
  },
  parley("file", "Parley, SQLite file (durable)"),
  parley("memory", "Parley, SQLite in memory")
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

const phonePrefix = "3165"
const phone = (user: number) => phonePrefix + String(user).padStart(7, "0")
/** The user a reply went to, from its `+3165…` number. */
const userOf = (to: string) => Number(to.slice(1 + phonePrefix.length))
let eventSeq = 0
/** A WAHA `message` webhook, as ChatSend posts it. */
const webhook = (user: number, text: string) => {
  const from = `${phone(user)}@c.us`
  const id = `false_${from}_${++eventSeq}`
  const at = Date.now()
  return `{"id":"evt_${id}","timestamp":${at},"event":"message","session":"default","payload":{"id":"${id}",` +
    `"timestamp":${Math.floor(at / 1000)},"from":"${from}","fromMe":false,"body":"${text}"}}`
}
/** Which step of the dialog a reply is: 0 and 1 the questions, 2 the summary; -1 none. */
const stepOf = (text: string) =>
  text.startsWith("q1:") ? 0 : text.startsWith("q2:") ? 1 : text.startsWith("done ") ? 2 : -1

type Scenario = (typeof scenarios)[number]

const run = async (contender: Contender, users: number, scenario: Scenario) => {
  const provider = await LoopbackProvider.start()
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), "parley-bench-conv-"))
  const child = contender.start(port, provider.url, dir)
  const agent = new Agent({ connections: scenario.inFlight })
  // Whatever happens, the bot does not outlive its run.
  try {
    return await drive(contender, child, `http://127.0.0.1:${port}`, provider, agent, users, scenario)
  } finally {
    child.kill("SIGKILL")
    await agent.destroy()
    await provider.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Runs the users against a started bot and measures it. */
const drive = async (
  contender: Contender,
  child: ChildProcess,
  origin: string,
  provider: LoopbackProvider.LoopbackProvider,
  agent: Agent,
  users: number,
  scenario: Scenario
) => {
  await new Promise<void>((resolve, reject) => {
    let output = ""
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (!output.includes("ready")) return
      child.stdout!.off("data", onData).resume()
      child.off("exit", onExit)
      resolve()
    }
    const onExit = (code: number | null) => reject(new Error(`${contender.name} exited (${code}):\n${output}`))
    child.stdout!.on("data", onData)
    child.once("exit", onExit)
  })

  // Every reply reaches `provider.onSent`; a user's next message is sent from there. Per-user state
  // lives in typed arrays and the requests share one handler, so the generator allocates little.
  const awaiting = new Int8Array(users).fill(-1) // the step whose reply the user waits for; -1 none
  const received = new Uint8Array(users) // a bit per step already received
  const sentAt = new Float64Array(users) // when the user's last message went out
  const inFlight = new Set<number>()
  const latencies: Array<number> = []
  const counts = { done: 0, lost: 0, duplicated: 0, outOfOrder: 0, wrong: 0, late: 0, rejected: 0, failedRequests: 0 }
  let next = 0
  let crashed = false

  // A saturated Node server leaves new connections in its accept queue for seconds (seen here: webhooks
  // on connections opened mid-run waited up to 3 s, those on open connections milliseconds), which
  // would make a bot that answers its webhook after sending the reply look slow. So the users'
  // connections are all opened before the clock starts, as many as the pool allows (one per dialog in
  // flight): a user whose previous webhook is still being answered waits for a free connection.
  await Promise.all(
    Array.from(
      { length: scenario.inFlight },
      () => agent.request({ origin, path: "/", method: "GET" }).then((response) => response.body.dump())
    )
  )
  const onResponse = (error: Error | null, response: Dispatcher.ResponseData) => {
    if (error !== null) {
      if (counts.failedRequests++ === 0) console.error(`${contender.name}: webhook failed: ${error.message}`)
      return
    }
    if (response.statusCode !== 200 && counts.rejected++ === 0) {
      console.error(`${contender.name}: webhook answered ${response.statusCode}`)
    }
    response.body.dump().catch(() => counts.failedRequests++)
  }
  const post = (user: number, text: string) => {
    const body = webhook(user, text)
    sentAt[user] = now()
    agent.request({
      origin,
      path: "/webhooks/chatsend",
      method: "POST",
      headers: { "content-type": "application/json", "x-webhook-hmac": ProviderWebhook.sign(hmac, body) },
      body
    }, onResponse)
  }

  let started = 0
  let ended = 0
  let finish: () => void = () => {}
  const finished = new Promise<void>((resolve) => finish = resolve)
  const deadline = () => started + budgetSeconds * 1000
  const startNext = () => {
    if (!crashed && next < users && now() < deadline()) {
      const user = next++
      inFlight.add(user)
      awaiting[user] = 0
      post(user, "start")
    } else if (inFlight.size === 0) {
      ended ||= now()
      finish()
    }
  }
  const end = (user: number) => {
    awaiting[user] = -1
    inFlight.delete(user)
    startNext()
  }

  provider.onSent = ({ text, to }) => {
    const user = userOf(to)
    const step = stepOf(text)
    if (!(user >= 0 && user < users) || step < 0) return void counts.wrong++
    const bit = 1 << step
    if ((received[user]! & bit) !== 0) return void counts.duplicated++
    if (step > 0 && (received[user]! & (bit >> 1)) === 0) counts.outOfOrder++
    received[user]! |= bit
    // A reply for a dialog given up on, or ahead of the one awaited (counted above as out of order).
    if (awaiting[user] !== step) return void counts.late++
    latencies.push(now() - sentAt[user]!)
    if (step === 2) {
      if (text === `done first ${user}|second ${user}`) counts.done++
      else if (counts.wrong++ === 0) console.error(`${contender.name}: user ${user} got "${text}"`)
      return end(user)
    }
    awaiting[user] = step + 1
    // The think time counts towards the reply timeout; post() restarts the clock when it sends.
    sentAt[user] = now()
    const answer = step === 0 ? `first ${user}` : `second ${user}`
    if (scenario.thinkMs === 0) post(user, answer)
    else setTimeout(post, scenario.thinkMs, user, answer)
  }

  // Every 250 ms: the bot's peak RSS (sampled while it runs, so a bot that crashes still has one) and
  // the users who waited too long for a reply.
  let rss = 0
  const watch = setInterval(() => {
    rss = Math.max(rss, peakRss(child.pid!))
    const t = now()
    for (const user of inFlight) {
      if (t - sentAt[user]! > replyTimeout) {
        counts.lost++
        end(user)
      }
    }
  }, 250)
  const onCrash = () => {
    crashed = true
    counts.lost += inFlight.size
    inFlight.clear()
    startNext()
  }
  child.once("exit", onCrash)

  // The whole process, and its main thread alone: a bot whose main thread is busy all the time is
  // the limit, not the users.
  const processStat = `/proc/${child.pid}/stat`
  const threadStat = `/proc/${child.pid}/task/${child.pid}/stat`
  const botCpu = cpuSeconds(processStat)
  const mainThreadCpu = cpuSeconds(threadStat)
  const benchCpu = process.cpuUsage()
  started = now()
  for (let i = 0; i < Math.min(scenario.inFlight, users); i++) startNext()
  await finished
  const seconds = (ended - started) / 1000
  const benchSeconds = ((cpu) => (cpu.user + cpu.system) / 1e6)(process.cpuUsage(benchCpu))
  const botSeconds = cpuSeconds(processStat) - botCpu
  const mainThreadSeconds = cpuSeconds(threadStat) - mainThreadCpu
  clearInterval(watch)
  rss = Math.max(rss, peakRss(child.pid!))
  child.off("exit", onCrash)
  const perThousand = (cpu: number) => counts.done === 0 ? Number.NaN : cpu / counts.done * 1000
  return {
    ...counts,
    crashed,
    perSecond: counts.done / seconds,
    cpuPerThousand: perThousand(botSeconds),
    benchCpuPerThousand: perThousand(benchSeconds),
    benchCore: benchSeconds / seconds,
    mainThreadBusy: mainThreadSeconds / seconds,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    rss
  }
}

const fixed = (value: number, digits: number) => Number.isFinite(value) ? value.toFixed(digits) : "-"
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
  }
}
console.log(
  `\nA bot starts no dialog after ${budgetSeconds} s; a dialog whose reply has not come ${
    replyTimeout / 1000
  } s after the user's message is lost.` +
    "\nRatios are to BuilderBot's gotoFlow variant (the one that loses nothing) and to the floor; CPU is the bot process's (utime + stime)." +
    "\nParley and the floor verify each webhook's HMAC; Parley also stores it before answering 200. BuilderBot does neither." +
    "\nTargets (100 ms think time): Parley >= BuilderBot's throughput while durable, >= 2x with the in-memory store." +
    "\nTargets (0 ms think time, issue 10): Parley on an SQLite file >= 0.5x BuilderBot's dialogs/s (aim 1x), CPU per dialog <= 2x the floor's," +
    " reply p99 <= 2x BuilderBot's, peak RSS <= 300 MB, nothing lost, duplicated or out of order; in memory >= 1x BuilderBot."
)
