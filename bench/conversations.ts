/**
 * Conversation throughput: simulated users each run a three-step dialog (start → two questions → a
 * summary reply) through the whole pipeline: webhook → inbox → engine → dialog → provider. The peer,
 * BuilderBot 1.3.13 with its `capture` flows and a custom provider, receives the same webhooks and
 * sends to the same loopback provider. Each bot runs in its own process; the users, the provider and
 * the clock run here. Reports dialogs/s, reply latency (webhook sent → reply at the provider) and
 * the bot process's peak RSS. A bot gets at most `PARLEY_BENCH_BUDGET` seconds (default 180) per run:
 * its rate is what it completed in that time.
 */
import { ProviderWebhook } from "@parley/core/provider"
import * as Redacted from "effect/Redacted"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Agent, request } from "undici"
import * as LoopbackProvider from "./LoopbackProvider.js"
import { now, quantile, ratio, table } from "./Report.js"

const here = fileURLToPath(new URL(".", import.meta.url))
const peerDir = join(here, "peer", "builderbot")
const secret = "bench-webhook-secret"
const hmac = { secret: Redacted.make(secret), header: "X-Webhook-Hmac", algorithm: "sha512" } as const
const userCounts = (process.env.PARLEY_BENCH_USERS ?? "1000,10000").split(",").map(Number)
const activeUsers = 256
// Each bot gets at most this long per run; dialogs/s is what it completed in the time it took.
const budgetSeconds = Number(process.env.PARLEY_BENCH_BUDGET ?? 180)
// Users answer a moment after the question arrives, as people do: BuilderBot records that it awaits an
// answer only after its send returns, and ignores an answer that arrives before that.
const thinkTime = 100

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

interface Contender {
  readonly name: string
  readonly start: (port: number, providerUrl: string, dir: string) => ChildProcess
}

const contenders: ReadonlyArray<Contender> = [
  {
    name: "BuilderBot 1.3.13, MemoryDB (baseline)",
    // It writes its logs to the working directory: give it a temp one.
    start: (port, providerUrl, dir) =>
      spawn(process.execPath, [join(peerDir, "bot.mjs")], {
        cwd: dir,
        env: { ...process.env, BENCH_PORT: String(port), BENCH_PROVIDER_URL: providerUrl },
        stdio: ["ignore", "pipe", "inherit"]
      })
  },
  ...[["Parley, SQLite file (durable)", "file"], ["Parley, SQLite in memory", "memory"]].map(([name, store]) => ({
    name: name!,
    start: (port: number, providerUrl: string, dir: string) =>
      spawn(process.execPath, ["--import", "tsx", join(here, "ConversationBot.ts")], {
        cwd: here,
        env: {
          ...process.env,
          BENCH_PORT: String(port),
          BENCH_PROVIDER_URL: providerUrl,
          BENCH_DB: store === "file" ? join(dir, "parley.db") : ":memory:",
          PARLEY_CHATSEND_WEBHOOK_SECRET: secret
        },
        stdio: ["ignore", "pipe", "inherit"]
      })
  }))
]

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

const phone = (user: number) => `3165${String(user).padStart(7, "0")}`
let eventSeq = 0
const webhook = (user: number, text: string) => {
  const id = `false_${phone(user)}@c.us_${++eventSeq}`
  const at = Date.now()
  return JSON.stringify({
    id: `evt_${id}`,
    timestamp: at,
    event: "message",
    session: "default",
    payload: { id, timestamp: Math.floor(at / 1000), from: `${phone(user)}@c.us`, fromMe: false, body: text }
  })
}

const run = async (contender: Contender, users: number) => {
  const provider = await LoopbackProvider.start()
  const waiting = new Map<string, (text: string) => void>()
  provider.onSent = ({ text, to }) => waiting.get(to)?.(text)
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), "parley-bench-conv-"))
  const child = contender.start(port, provider.url, dir)
  await new Promise<void>((resolve, reject) => {
    let output = ""
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes("ready")) resolve()
    })
    child.once("exit", (code) => reject(new Error(`${contender.name} exited (${code}):\n${output}`)))
  })
  const agent = new Agent({ connections: 64 })
  const url = `http://127.0.0.1:${port}/webhooks/chatsend`
  const latencies: Array<number> = []
  let failed = 0

  // Sends one message (after the user's think time) and waits for the bot's answer to it.
  const exchange = async (user: number, text: string, expect: string) => {
    const to = `+${phone(user)}`
    await new Promise((resolve) => setTimeout(resolve, thinkTime))
    const t = now()
    const replied = new Promise<string>((resolve) => waiting.set(to, resolve))
    const body = webhook(user, text)
    const response = await request(url, {
      method: "POST",
      dispatcher: agent,
      headers: { "content-type": "application/json", "x-webhook-hmac": ProviderWebhook.sign(hmac, body) },
      body
    })
    await response.body.dump()
    const timeout = new Promise<string>((resolve) => setTimeout(() => resolve("(no reply)"), 60_000).unref())
    const reply = await Promise.race([replied, timeout])
    waiting.delete(to)
    latencies.push(now() - t)
    if (!reply.startsWith(expect)) throw new Error(`user ${user}: expected "${expect}…", got "${reply}"`)
  }
  const dialog = async (user: number) => {
    try {
      await exchange(user, "start", "q1:")
      await exchange(user, `first ${user}`, "q2:")
      await exchange(user, `second ${user}`, `done first ${user}|second ${user}`)
    } catch (error) {
      if (failed++ === 0) console.error(String(error))
    }
  }

  // Sampled while it runs: a bot that crashes still has its peak recorded.
  let rss = 0
  const sampler = setInterval(() => rss = Math.max(rss, peakRss(child.pid!)), 250)
  let crashed = false
  child.once("exit", () => crashed = true)
  let next = 0
  const started = now()
  const deadline = started + budgetSeconds * 1000
  await Promise.all(Array.from({ length: Math.min(activeUsers, users) }, async () => {
    while (next < users && now() < deadline) await dialog(next++)
  }))
  const seconds = (now() - started) / 1000
  clearInterval(sampler)
  rss = Math.max(rss, peakRss(child.pid!))
  child.kill("SIGKILL")
  await agent.close()
  await provider.close()
  rmSync(dir, { recursive: true, force: true })
  return {
    completed: next - failed,
    perSecond: (next - failed) / seconds,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    rss,
    failed,
    crashed
  }
}

installPeer()
for (const users of userCounts) {
  const results = []
  for (const contender of contenders) results.push({ contender, ...await run(contender, users) })
  const base = results[0]!
  table(
    `2. Conversation throughput: ${
      users.toLocaleString("en")
    } users × 3-step dialog, ${activeUsers} at a time, ${thinkTime} ms think time`,
    ["bot", "dialogs done", "dialogs/s", "vs baseline", "reply p50 ms", "reply p99 ms", "peak RSS MB", "failed"],
    results.map((r) => [
      r.contender.name,
      r.completed.toLocaleString("en"),
      r.perSecond.toFixed(0),
      ratio(r.perSecond, base.perSecond),
      r.p50.toFixed(1),
      r.p99.toFixed(1),
      (r.rss / 1024 / 1024).toFixed(0),
      r.crashed ? `${r.failed} (bot crashed)` : String(r.failed)
    ])
  )
}
console.log(
  `\nEach bot ran until its users were done or ${budgetSeconds} s had passed.` +
    "\nTargets: Parley >= BuilderBot's throughput while durable, >= 2x with the in-memory store." +
    "\nParley also verifies each webhook's HMAC and stores it before answering 200; the peer does neither."
)
