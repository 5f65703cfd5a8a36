/**
 * Scale-out on PostgreSQL: one, two and three bot instances (ConversationBot.ts, each its own process
 * with its webhook server and engine) over one PostgreSQL, the users' webhooks spread round-robin over
 * the instances as a load balancer would: each message of a dialog reaches another instance than the one
 * before it. The baseline is one instance, measured in the same run.
 *
 * Per instance count, with the users of `conversations.ts` (3-step dialogs, 0 ms think time):
 * - dialogs/s, reply p50/p99, and lost, duplicated and out-of-order replies;
 * - CPU seconds per 1,000 dialogs of the instances, and of PostgreSQL (its server process and backends);
 * - statements per event: those of the engines' group commits (`parley_store_statements_total`, summed
 *   over the instances), and all that PostgreSQL ran for the database (`pg_stat_statements`: lease
 *   renewals, polls, timers and retention included), each one round trip (a connection's statements are
 *   never pipelined);
 * - the hand-off: a probe user's next message posted to another instance the moment its previous one was
 *   acknowledged, so it reaches the inbox while the previous instance still holds the chat (or has just
 *   let it go); its latency runs from that acknowledgement (or the previous reply, if later) to its reply,
 *   with no other load. With one instance both messages go to the same instance: the local path.
 *
 * PostgreSQL runs from the distribution's binaries (`apt-get install postgresql`) in a temp dir, as the
 * tests start it (`fsync` off, so commits cost what the round trips cost, not a disk's flush), with
 * `pg_stat_statements` loaded.
 *
 * Settings: `PARLEY_BENCH_INSTANCES` (1,2,3), `PARLEY_BENCH_USERS` (1000), `PARLEY_BENCH_IN_FLIGHT`
 * (200), `PARLEY_BENCH_PROBES` (300), `PARLEY_BENCH_REPLY_TIMEOUT` (30 seconds); `PARLEY_BENCH_BEFORE`: the
 * path of another checkout of this repository, installed (e.g. main, on Effect 3), whose ConversationBot.ts
 * runs the same instance counts on a database of its own in the same run, for its dialogs/s per instance
 * beside this one's (compare the factor with `pnpm bench conversations`' parley-file vs parley-file-before
 * on SQLite, with the same `PARLEY_BENCH_BEFORE`).
 */
import * as Postgres from "@parley/testing/Postgres"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { type ChildProcess, spawnSync } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { Agent } from "undici"
import {
  answer,
  childrenOf,
  compiled,
  cpuSeconds,
  drive,
  fixed,
  freePort,
  node,
  openAgent,
  post,
  ready,
  secret,
  stepOf,
  stop,
  userOf
} from "./Dialogs.js"
import * as LoopbackProvider from "./LoopbackProvider.js"
import { now, quantile, ratio, table } from "./Report.js"

const here = fileURLToPath(new URL(".", import.meta.url))
const instanceCounts = (process.env.PARLEY_BENCH_INSTANCES ?? "1,2,3").split(",").map(Number)
const users = Number(process.env.PARLEY_BENCH_USERS ?? 1000)
const inFlight = Number(process.env.PARLEY_BENCH_IN_FLIGHT ?? 200)
const probes = Number(process.env.PARLEY_BENCH_PROBES ?? 300)
const replyTimeout = Number(process.env.PARLEY_BENCH_REPLY_TIMEOUT ?? 30) * 1000

/** A checkout of Parley whose ConversationBot.ts the instances run: this one, and another one to compare. */
interface Build {
  readonly label: string
  readonly benchDir: string
}
const builds: ReadonlyArray<Build> = [
  { label: "", benchDir: here },
  ...(process.env.PARLEY_BENCH_BEFORE === undefined ? [] : [{
    label: `before (${
      spawnSync("git", ["-C", process.env.PARLEY_BENCH_BEFORE, "rev-parse", "--short", "HEAD"], { encoding: "utf8" })
        .stdout.trim()
    })`,
    benchDir: join(process.env.PARLEY_BENCH_BEFORE, "bench")
  }])
]

/** The PostgreSQL server process listening on `port`: the one whose arguments hold `-p <port>`. */
const postmaster = (port: number) =>
  readdirSync("/proc").filter((name) => /^\d+$/.test(name)).map(Number).find((pid) => {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")
      return args[0]!.endsWith("postgres") && args.some((arg, i) => arg === "-p" && args[i + 1] === String(port))
    } catch {
      return false
    }
  })

/** CPU seconds so far of a server process and its live children. */
const treeCpu = (pid: number) =>
  [pid, ...childrenOf(pid)].reduce((sum, p) => sum + (cpuSeconds(`/proc/${p}/stat`) || 0), 0)

/** Runs SQL on the database (with `psql`); its output. */
const psql = (url: string, query: string) => Effect.runSync(Postgres.query(url, query))

/** The statements PostgreSQL has run for the database so far (`pg_stat_statements`). */
const serverStatements = (url: string) =>
  Number(psql(
    url,
    "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
  ))

/** The statements an instance's engine has run so far (it prints them on SIGUSR2). */
const statements = (child: ChildProcess) =>
  new Promise<number>((resolve) => {
    let output = ""
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const found = /statements (\d+)/.exec(output)
      if (found === null) return
      child.stdout!.off("data", onData)
      resolve(Number(found[1]))
    }
    child.stdout!.on("data", onData)
    child.kill("SIGUSR2")
  })
const allStatements = async (children: ReadonlyArray<ChildProcess>) =>
  (await Promise.all(children.map(statements))).reduce((a, b) => a + b, 0)

/**
 * Hand-off latencies: each probe user posts `start` to one instance and, once it is acknowledged, the
 * answer to the next; from the second acknowledgement (or the first reply, if later) to the second reply.
 */
const handOff = async (
  provider: LoopbackProvider.LoopbackProvider,
  agent: Agent,
  origins: ReadonlyArray<string>,
  firstUser: number
) => {
  const latencies: Array<number> = []
  const replies = new Map<number, Array<number>>() // per probe user: when each step's reply came
  const waiting = new Map<number, () => void>()
  provider.onSent = ({ text, to }) => {
    const user = userOf(to)
    const at = replies.get(user)
    if (at === undefined) return
    at[stepOf(text)] = now()
    if (at[1] !== undefined) waiting.get(user)?.()
  }
  const posted = (origin: string, user: number, text: string) =>
    new Promise<number>((resolve, reject) =>
      post(agent, origin, user, text, (error, response) => {
        if (error !== null) return reject(error)
        response.body.dump().then(() =>
          response.statusCode === 200 ? resolve(now()) : reject(new Error(`webhook ${response.statusCode}`))
        )
      })
    )
  const probe = async (k: number) => {
    const user = firstUser + k
    const at: Array<number> = []
    replies.set(user, at)
    const second = new Promise<void>((resolve, reject) => {
      waiting.set(user, resolve)
      setTimeout(() => reject(new Error(`probe ${k}: no second reply in ${replyTimeout} ms`)), replyTimeout).unref()
    })
    await posted(origins[k % origins.length]!, user, "start")
    const acknowledged = await posted(origins[(k + 1) % origins.length]!, user, answer(user, 0))
    await second
    latencies.push(at[1]! - Math.max(acknowledged, at[0]!))
  }
  // A few at a time, so the hand-off is measured without the queueing of a loaded bot.
  let next = 0
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < probes) await probe(next++)
  }))
  return { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) }
}

/** One instance count on a fresh database: the load run, then the hand-off probes. */
const run = async (server: Postgres.Server, instances: number, build: Build) => {
  const database = await Effect.runPromise(Postgres.createDatabase(server))
  psql(database, "CREATE EXTENSION pg_stat_statements")
  const provider = await LoopbackProvider.start()
  const ports = await Promise.all(Array.from({ length: instances }, freePort))
  const bot = await compiled(join(build.benchDir, "ConversationBot.ts"))
  const children = ports.map((port, i) =>
    node([bot], build.benchDir, {
      BENCH_PORT: String(port),
      BENCH_PROVIDER_URL: provider.url,
      BENCH_DB: database,
      PARLEY_INSTANCE_ID: `bench-${i}`,
      PARLEY_CHATSEND_WEBHOOK_SECRET: secret
    })
  )
  try {
    await Promise.all(children.map((child, i) => ready(child, `instance ${i}`)))
    const origins = ports.map((port) => `http://127.0.0.1:${port}`)
    const agent = await openAgent(origins, inFlight)
    try {
      const pg = postmaster(server.port)
      const statementsBefore = await allStatements(children)
      const serverBefore = serverStatements(database)
      const result = await drive({
        target: {
          name: `${instances} instance${instances > 1 ? "s" : ""}`,
          children,
          origins,
          otherCpu: () => pg === undefined ? Number.NaN : treeCpu(pg)
        },
        provider,
        agent,
        users,
        scenario: { thinkMs: 0, inFlight },
        budgetSeconds: 180,
        replyTimeout
      })
      const events = result.done * 3
      const perEvent = {
        statements: (await allStatements(children) - statementsBefore) / events,
        server: (serverStatements(database) - serverBefore) / events
      }
      const handoff = await handOff(provider, agent, origins, users)
      return { instances, build, ...result, perEvent, handoff }
    } finally {
      await agent.destroy()
    }
  } finally {
    await Promise.all(children.map(stop))
    await provider.close()
  }
}

if (Postgres.binaries === undefined) {
  console.log("\n### 6. Scale-out on PostgreSQL\n\nnot run: no PostgreSQL binaries (apt-get install postgresql)")
  process.exit(0)
}
const scope = Effect.runSync(Scope.make())
try {
  const server = await Effect.runPromise(
    Scope.provide(Postgres.startWith({ settings: { shared_preload_libraries: "pg_stat_statements" } }), scope)
  )
  const results: Array<Awaited<ReturnType<typeof run>>> = []
  for (const instances of instanceCounts) {
    for (const build of builds) results.push(await run(server, instances, build))
  }
  // Each build against its own first instance count.
  type Run = (typeof results)[number]
  const baseOf = (r: Run) => results.find((b) => b.build === r.build)!
  const base = results[0]!
  const rowName = (r: Run) => r.build.label === "" ? String(r.instances) : `${r.instances}, ${r.build.label}`
  table(
    `6. Scale-out on PostgreSQL: ${
      users.toLocaleString("en")
    } users × 3-step dialog, ${inFlight} in flight, 0 ms think time, webhooks round-robin over the instances`,
    [
      "instances",
      "dialogs done",
      "dialogs/s",
      `vs ${base.instances}`,
      "CPU-s per 1k: instances",
      "PostgreSQL",
      "total",
      "reply p50 ms",
      "reply p99 ms",
      "engine statements per event",
      "PostgreSQL statements (round trips) per event",
      "hand-off p50 ms",
      "hand-off p99 ms",
      "lost",
      "duplicated",
      "out of order"
    ],
    results.map((r) => [
      rowName(r),
      r.done.toLocaleString("en"),
      r.perSecond.toFixed(0),
      ratio(r.perSecond, baseOf(r).perSecond),
      fixed(r.cpuPerThousand, 1),
      fixed(r.otherCpuPerThousand, 1),
      fixed(r.cpuPerThousand + r.otherCpuPerThousand, 1),
      fixed(r.p50, 1),
      fixed(r.p99, 1),
      fixed(r.perEvent.statements, 1),
      fixed(r.perEvent.server, 1),
      fixed(r.handoff.p50, 1),
      fixed(r.handoff.p99, 1),
      r.crashed ? `${r.lost} (an instance crashed)` : String(r.lost),
      String(r.duplicated),
      String(r.outOfOrder)
    ])
  )
  console.log("")
  for (const r of results) {
    console.log(
      `- ${rowName(r)}: the busiest instance's main thread was busy ${fixed(r.mainThreadBusy * 100, 0)}% of the run;` +
        ` this process (users and loopback provider) used ${(r.benchCore * 100).toFixed(0)}% of one core` +
        (r.rejected + r.failedRequests + r.wrong > 0
          ? `; ${r.rejected} webhooks answered other than 200, ${r.failedRequests} failed, ${r.wrong} wrong replies`
          : "")
    )
  }
  console.log(
    "\nEvents are the users' messages (3 per dialog). Hand-off: a probe user's second message posted to another instance" +
      " the moment its first was acknowledged, from that acknowledgement (or the first reply, if later) to its reply;" +
      ` ${probes} probes, 4 at a time, after the load run. One instance is the baseline (both messages to it).` +
      "\nOn 2 cores the instances, PostgreSQL and this process share the same CPUs: more instances cannot add throughput" +
      " here; what this shows is the cost of coordination (CPU, statements and round trips per event) and that nothing is lost."
  )
  if (builds.length > 1) {
    // The issue's target: dialogs/s per instance up by at least the factor Parley gained on SQLite.
    console.log(
      `\nDialogs/s per instance, this build vs ${builds[1]!.label}: ${
        instanceCounts.map((instances) => {
          const [now, then] = builds.map((build) =>
            results.find((r) => r.instances === instances && r.build === build)!
          )
          return `${ratio(now!.perSecond, then!.perSecond)} with ${instances}`
        }).join(", ")
      } (target: at least the factor on an SQLite file, parley-file vs parley-file-before in \`pnpm bench conversations\`).`
    )
  }
} finally {
  await Effect.runPromise(Scope.close(scope, Exit.void))
}
