/**
 * The users of the dialog benchmarks (`conversations.ts`, `scale.ts`) and what they measure: simulated
 * users each run a three-step dialog (start → two questions → a summary reply that repeats the answers)
 * through signed webhooks, in either of two shapes (WAHA's, as ChatSend posts them, or Meta's Cloud API
 * envelope), to one or several bot processes, replies arriving at a loopback provider in this process; and
 * the process figures (CPU from `/proc`, peak RSS) of the bots. Nothing here runs on Effect, so the load
 * generator is the same whatever the bots are built on.
 */
import { build } from "esbuild"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { createHmac } from "node:crypto"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { basename, join } from "node:path"
import { Agent, type Dispatcher } from "undici"
import type * as LoopbackProvider from "./LoopbackProvider.js"
import { now, quantile } from "./Report.js"

/**
 * The webhook secret every bot of the benchmarks verifies: WAHA's HMAC key, and Meta's app secret.
 */
export const secret = "bench-webhook-secret"

/**
 * The two webhook shapes the users can speak:
 * - `waha`: WAHA's `message` event, as ChatSend posts it, to `POST /webhooks/chatsend`, signed with
 *   HMAC-SHA512 (hex) in `X-Webhook-Hmac`; bots reply with ChatSend's `POST /sendText`;
 * - `meta`: Meta's Cloud API envelope (`{ object: "whatsapp_business_account", entry: [{ changes: [{ field:
 *   "messages", value: { metadata, contacts, messages } }] }] }`) to `POST /webhooks/meta`, signed as Meta
 *   signs (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>`); bots reply
 *   with the Graph API's `POST /{version}/{phone-number-id}/messages`.
 */
export type Shape = "waha" | "meta"

/** The business phone number the Meta-shaped webhooks are for (its id, and the number itself). */
export const metaPhoneNumberId = "106540352242922"
const metaDisplayNumber = "15550001234"
const metaAccountId = "102290129340398"

/** A free loopback port. */
export const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0))
    })
  })

/** The process's peak RSS so far (0 once it has exited). */
export const peakRss = (pid: number) => {
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
export const cpuSeconds = (statPath: string) => {
  try {
    const stat = readFileSync(statPath, "utf8")
    // Counted from field 3, after the command name (which may hold spaces): utime is field 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / clockTicks
  } catch {
    return Number.NaN
  }
}

/** The live children of a process (e.g. a PostgreSQL server's backends), from `/proc/<pid>/stat`. */
export const childrenOf = (parent: number): Array<number> =>
  readdirSync("/proc").filter((name) => /^\d+$/.test(name)).map(Number).filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === parent
    } catch {
      return false
    }
  })

const profileDir = process.env.PARLEY_BENCH_PROFILE
// Node flags for every bot alike (e.g. `--max-semi-space-size=16`, to see what V8's young generation adds).
const nodeFlags = process.env.PARLEY_BENCH_NODE_FLAGS?.split(" ").filter((flag) => flag.length > 0) ?? []

const compiledDir = mkdtempSync(join(tmpdir(), "parley-bench-bots-"))
const compiledFiles = new Map<string, Promise<string>>()
process.on("exit", () => rmSync(compiledDir, { recursive: true, force: true }))

/**
 * A TypeScript bot compiled to one JavaScript file, as it would be deployed, so that its figures (peak RSS
 * above all) are the bot's and not the TypeScript loader's: under `tsx` a bot also carries the loader's
 * worker thread and transformed sources, about 40-60 MB. Built once per entry and run.
 */
export const compiled = (entry: string): Promise<string> => {
  const known = compiledFiles.get(entry)
  if (known !== undefined) return known
  const outfile = join(compiledDir, `${compiledFiles.size}-${basename(entry, ".ts")}.mjs`)
  const file = build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    // pg's optional native binding; CommonJS dependencies call `require`.
    external: ["pg-native"],
    // (Aliased: Effect 4's own modules import `createRequire` too.)
    banner: {
      js: "import { createRequire as __benchCreateRequire } from 'node:module';" +
        " const require = __benchCreateRequire(import.meta.url);"
    },
    logLevel: "warning"
  }).then(() => outfile)
  compiledFiles.set(entry, file)
  return file
}

/**
 * Starts a Node process in `cwd` with `env` added, stdout piped (for its "ready"), stderr inherited.
 * With `PARLEY_BENCH_PROFILE=<dir>`, it writes a CPU profile there as it stops (`--cpu-prof`); with
 * `PARLEY_BENCH_NODE_FLAGS`, it runs with those flags.
 */
export const node = (args: ReadonlyArray<string>, cwd: string, env: Record<string, string>) =>
  spawn(
    process.execPath,
    [...nodeFlags, ...profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`], ...args],
    {
      cwd,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"]
    }
  )

/**
 * Stops a bot: SIGTERM, so it can end cleanly (and write a `--cpu-prof` profile, when run with
 * `NODE_OPTIONS=--cpu-prof`), then SIGKILL if it is still there after 5 s.
 */
export const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill("SIGTERM")
  })

/** Resolves once the process printed "ready"; fails if it exits first. Its later output is discarded. */
export const ready = (child: ChildProcess, name: string) =>
  new Promise<void>((resolve, reject) => {
    let output = ""
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (!output.includes("ready")) return
      child.stdout!.off("data", onData).resume()
      child.off("exit", onExit)
      resolve()
    }
    const onExit = (code: number | null) => reject(new Error(`${name} exited (${code}):\n${output}`))
    child.stdout!.on("data", onData)
    child.once("exit", onExit)
  })

const phonePrefix = "3165"
const phone = (user: number) => phonePrefix + String(user).padStart(7, "0")
/** The user a reply went to, from its `+3165…` number. */
export const userOf = (to: string) => Number(to.slice(1 + phonePrefix.length))
let eventSeq = 0
/** A WAHA `message` webhook, as ChatSend posts it. */
const wahaWebhook = (user: number, text: string) => {
  const from = `${phone(user)}@c.us`
  const id = `false_${from}_${++eventSeq}`
  const at = Date.now()
  return `{"id":"evt_${id}","timestamp":${at},"event":"message","session":"default","payload":{"id":"${id}",` +
    `"timestamp":${Math.floor(at / 1000)},"from":"${from}","fromMe":false,"body":"${text}"}}`
}
/** A user's text message as Meta's Cloud API delivers it. */
const metaWebhook = (user: number, text: string) => {
  const from = phone(user)
  return `{"object":"whatsapp_business_account","entry":[{"id":"${metaAccountId}","changes":[{"field":"messages",` +
    `"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"${metaDisplayNumber}",` +
    `"phone_number_id":"${metaPhoneNumberId}"},"contacts":[{"profile":{"name":"User ${user}"},"wa_id":"${from}"}],` +
    `"messages":[{"from":"${from}","id":"wamid.bench${user}.${++eventSeq}","timestamp":"${
      Math.floor(Date.now() / 1000)
    }","type":"text","text":{"body":"${text}"}}]}}]}]}`
}
/** Which step of the dialog a reply is: 0 and 1 the questions, 2 the summary; -1 none. */
export const stepOf = (text: string) =>
  text.startsWith("q1:") ? 0 : text.startsWith("q2:") ? 1 : text.startsWith("done ") ? 2 : -1
/** The user's answer to question `step` (0 or 1). */
export const answer = (user: number, step: number) => step === 0 ? `first ${user}` : `second ${user}`

/** Where a webhook of each shape goes, and how it is written and signed. */
const shapes = {
  waha: {
    path: "/webhooks/chatsend",
    body: wahaWebhook,
    headers: (body: string) => ({
      "content-type": "application/json",
      "x-webhook-hmac": createHmac("sha512", secret).update(body).digest("hex")
    })
  },
  meta: {
    path: "/webhooks/meta",
    body: metaWebhook,
    headers: (body: string) => ({
      "content-type": "application/json",
      "x-hub-signature-256": `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`
    })
  }
} as const

/** Posts a user's message as a signed webhook to a bot; `done` gets the response (or the error). */
export const post = (
  agent: Agent,
  origin: string,
  user: number,
  text: string,
  done: (error: Error | null, response: Dispatcher.ResponseData) => void,
  shape: Shape = "waha"
) => {
  const { body: write, headers, path } = shapes[shape]
  const body = write(user, text)
  agent.request({ origin, path, method: "POST", headers: headers(body), body }, done)
}

/**
 * A user connection pool with `connections` connections to each origin, all opened before it is
 * returned: a Node server that is busy leaves new connections in its accept queue for seconds (seen here:
 * webhooks on connections opened mid-run waited up to 3 s, those on open connections milliseconds), which
 * would make a bot that answers its webhook after sending the reply look slow.
 */
export const openAgent = async (origins: ReadonlyArray<string>, connections: number) => {
  const agent = new Agent({ connections })
  await Promise.all(origins.flatMap((origin) =>
    Array.from(
      { length: connections },
      () => agent.request({ origin, path: "/", method: "GET" }).then((response) => response.body.dump())
    )
  ))
  return agent
}

/** What a run of users drives: one or several bot processes, and their webhook servers. */
export interface Target {
  readonly name: string
  /** The bots' processes: their CPU and peak RSS are measured; one that exits is a crash. */
  readonly children: ReadonlyArray<ChildProcess>
  /** Webhook servers (`http://127.0.0.1:<port>`), given messages round-robin, as a load balancer would. */
  readonly origins: ReadonlyArray<string>
  /** Other CPU the run costs (e.g. the database server's processes), in seconds so far. */
  readonly otherCpu?: (() => number) | undefined
}

/** How the users behave: think time before each answer, and dialogs in flight at once. */
export interface Scenario {
  readonly thinkMs: number
  readonly inFlight: number
}

/** The figures of one run. */
export interface Result {
  readonly done: number
  readonly lost: number
  readonly duplicated: number
  readonly outOfOrder: number
  readonly wrong: number
  readonly late: number
  readonly rejected: number
  readonly failedRequests: number
  readonly crashed: boolean
  readonly perSecond: number
  /** The bots' CPU seconds (all processes) per 1,000 dialogs. */
  readonly cpuPerThousand: number
  /** `otherCpu` per 1,000 dialogs (NaN without it). */
  readonly otherCpuPerThousand: number
  /** This process's CPU seconds (users + loopback provider) per 1,000 dialogs. */
  readonly benchCpuPerThousand: number
  /** This process's share of one core over the run. */
  readonly benchCore: number
  /** The busiest bot's main thread's share of the run. */
  readonly mainThreadBusy: number
  readonly p50: number
  readonly p99: number
  /** The largest peak RSS of the bots. */
  readonly rss: number
}

/**
 * Runs `users` dialogs against started bots and measures them. Every reply reaches `provider.onSent`;
 * a user's next message is sent from there (after the think time). Per-user state lives in typed arrays
 * and the requests share one handler, so the generator allocates little.
 */
export const drive = async (options: {
  readonly target: Target
  readonly provider: LoopbackProvider.LoopbackProvider
  readonly agent: Agent
  readonly users: number
  /**
   * The number of the first user (0): users `firstUser` to `firstUser + users - 1` take part, so that a
   * warm-up run and the measured one talk to the bot as different users.
   */
  readonly firstUser?: number | undefined
  readonly scenario: Scenario
  /** The webhooks' shape (`waha`). */
  readonly shape?: Shape | undefined
  /** A bot starts no dialog after this many seconds. */
  readonly budgetSeconds: number
  /** A dialog whose reply has not come this many milliseconds after the user's message is lost. */
  readonly replyTimeout: number
}): Promise<Result> => {
  const { agent, provider, scenario, target, users } = options
  const first = options.firstUser ?? 0
  const shape = options.shape ?? "waha"
  const awaiting = new Int8Array(users).fill(-1) // the step whose reply the user waits for; -1 none
  const received = new Uint8Array(users) // a bit per step already received
  const sentAt = new Float64Array(users) // when the user's last message went out
  const inFlight = new Set<number>()
  const latencies: Array<number> = []
  const counts = { done: 0, lost: 0, duplicated: 0, outOfOrder: 0, wrong: 0, late: 0, rejected: 0, failedRequests: 0 }
  let next = 0
  let posted = 0
  let crashed = false

  const onResponse = (error: Error | null, response: Dispatcher.ResponseData) => {
    if (error !== null) {
      if (counts.failedRequests++ === 0) console.error(`${target.name}: webhook failed: ${error.message}`)
      return
    }
    if (response.statusCode !== 200 && counts.rejected++ === 0) {
      console.error(`${target.name}: webhook answered ${response.statusCode}`)
    }
    response.body.dump().catch(() => counts.failedRequests++)
  }
  const send = (user: number, text: string) => {
    sentAt[user] = now()
    post(agent, target.origins[posted++ % target.origins.length]!, first + user, text, onResponse, shape)
  }

  let started = 0
  let ended = 0
  let finish: () => void = () => {}
  const finished = new Promise<void>((resolve) => finish = resolve)
  const deadline = () => started + options.budgetSeconds * 1000
  const startNext = () => {
    if (!crashed && next < users && now() < deadline()) {
      const user = next++
      inFlight.add(user)
      awaiting[user] = 0
      send(user, "start")
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
    const user = userOf(to) - first
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
      if (text === `done ${answer(first + user, 0)}|${answer(first + user, 1)}`) counts.done++
      else if (counts.wrong++ === 0) console.error(`${target.name}: user ${user} got "${text}"`)
      return end(user)
    }
    awaiting[user] = step + 1
    // The think time counts towards the reply timeout; send() restarts the clock when it sends.
    sentAt[user] = now()
    if (scenario.thinkMs === 0) send(user, answer(first + user, step))
    else setTimeout(send, scenario.thinkMs, user, answer(first + user, step))
  }

  // Every 250 ms: the bots' peak RSS (sampled while they run, so a bot that crashes still has one) and
  // the users who waited too long for a reply.
  const pids = target.children.map((child) => child.pid!)
  const rss = pids.map(() => 0)
  const sampleRss = () => pids.forEach((pid, i) => rss[i] = Math.max(rss[i]!, peakRss(pid)))
  const watch = setInterval(() => {
    sampleRss()
    const t = now()
    for (const user of inFlight) {
      if (t - sentAt[user]! > options.replyTimeout) {
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
  for (const child of target.children) child.once("exit", onCrash)
  // A bot already gone (it crashed in a warm-up, say) loses every dialog.
  if (target.children.some((child) => child.exitCode !== null || child.signalCode !== null)) {
    crashed = true
    counts.lost = users
  }

  // The whole processes, and their main threads alone: a bot whose main thread is busy all the time is
  // the limit, not the users.
  const botCpu = () => pids.reduce((sum, pid) => sum + cpuSeconds(`/proc/${pid}/stat`), 0)
  const mainThreadCpu = () => pids.map((pid) => cpuSeconds(`/proc/${pid}/task/${pid}/stat`))
  const otherCpu = target.otherCpu ?? (() => Number.NaN)
  const botBefore = botCpu()
  const mainBefore = mainThreadCpu()
  const otherBefore = otherCpu()
  const benchCpu = process.cpuUsage()
  started = now()
  for (let i = 0; i < Math.min(scenario.inFlight, users); i++) startNext()
  await finished
  const seconds = (ended - started) / 1000
  const benchSeconds = ((cpu) => (cpu.user + cpu.system) / 1e6)(process.cpuUsage(benchCpu))
  const botSeconds = botCpu() - botBefore
  const mainBusy = Math.max(...mainThreadCpu().map((cpu, i) => (cpu - mainBefore[i]!) / seconds))
  const otherSeconds = otherCpu() - otherBefore
  clearInterval(watch)
  sampleRss()
  for (const child of target.children) child.off("exit", onCrash)
  const perThousand = (cpu: number) => counts.done === 0 ? Number.NaN : cpu / counts.done * 1000
  return {
    ...counts,
    crashed,
    perSecond: counts.done / seconds,
    cpuPerThousand: perThousand(botSeconds),
    otherCpuPerThousand: perThousand(otherSeconds),
    benchCpuPerThousand: perThousand(benchSeconds),
    benchCore: benchSeconds / seconds,
    mainThreadBusy: mainBusy,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    rss: Math.max(...rss)
  }
}

/** A number with `digits` decimals, "-" when it is not finite. */
export const fixed = (value: number, digits: number) => Number.isFinite(value) ? value.toFixed(digits) : "-"
