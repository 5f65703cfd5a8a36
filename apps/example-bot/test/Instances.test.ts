/**
 * Several bot processes (webhook server + engine each) on one PostgreSQL, webhooks spread round-robin
 * over them as a load balancer would: one is SIGKILLed mid-run, or paused (SIGSTOP) past its holds and
 * resumed. Every acknowledged message is answered once, in order; every dialog and every reminder
 * (a durable timer) completes once; no chat is handled by two instances at once; no transactions deadlock.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as ChatSendEmulator from "@parley/chatsend/emulator"
import { ProviderWebhook } from "@parley/core/provider"
import { FakeNetwork, Postgres } from "@parley/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import { follow, freePort, removeData, say, spawnUntil, startApp, tempData, wahaMessage } from "./app.js"

const secret = randomBytes(16).toString("hex")
const hmac = { secret: Redacted.make(secret), header: "X-Webhook-Hmac", algorithm: "sha512" } as const
const prompts = ["q1: your first answer?", "q2: your second answer?", "q3: your third answer?"]
const phone = (user: number) => `3163${String(user).padStart(7, "0")}`
const script = (user: number) => ["start", `u${user}-a1`, `u${user}-a2`, `u${user}-a3`]
const expected = (user: number) => [...prompts, `done u${user}-a1|u${user}-a2|u${user}-a3`, "reminder"]

/** A user's n-th message, as ChatSend's webhook. */
const webhook = (session: string, user: number, n: number) =>
  wahaMessage(session, phone(user), `${user}x${n}`, script(user)[n]!)

interface Run {
  readonly users: number
  /** What happens to instance 0 once a third of the messages is acknowledged. */
  readonly disrupt: (bot: { readonly process: ChildProcess }) => Effect.Effect<void>
}

/** Runs the three instances under load; the outbound texts per user, and each instance's output. */
const run = (options: Run) =>
  Effect.gen(function*() {
    const network = yield* FakeNetwork.FakeNetwork
    const provider = yield* ChatSendEmulator.make()
    const server = yield* Postgres.start
    const url = yield* Postgres.createDatabase(server)
    const ports = yield* Effect.promise(() => Promise.all([freePort(), freePort(), freePort()]))
    const bots = yield* Effect.forEach(ports, (port, i) =>
      Effect.acquireRelease(
        Effect.promise(() =>
          spawnUntil("test/CrashBot.ts", {
            CRASH_PORT: String(port),
            CRASH_DATABASE_URL: url,
            CRASH_LEASE: "5 seconds",
            CRASH_REMIND: "1",
            CRASH_RECORD: "1",
            PARLEY_INSTANCE_ID: `instance-${i}`,
            PARLEY_CHATSEND_BASE_URL: provider.url,
            PARLEY_CHATSEND_API_KEY: provider.apiKey,
            PARLEY_CHATSEND_SESSION: provider.session,
            PARLEY_CHATSEND_WEBHOOK_SECRET: secret
          }, "crash bot ready")
        ),
        (bot) => Effect.sync(() => bot.process.kill("SIGKILL"))
      ))

    // Users write concurrently, each message once the previous one was acknowledged, to the next server
    // in turn; a delivery that gets no 200 goes to the next server, as a load balancer would send it.
    const acknowledged = yield* SubscriptionRef.make(0)
    let next = 0
    const deliver = (user: number, n: number) => {
      const body = webhook(provider.session, user, n)
      return Effect.suspend(() =>
        Effect.tryPromise(() =>
          fetch(`http://127.0.0.1:${ports[next++ % ports.length]}/webhooks/chatsend`, {
            method: "POST",
            body,
            headers: { "content-type": "application/json", "x-webhook-hmac": ProviderWebhook.sign(hmac, body) },
            signal: AbortSignal.timeout(5_000)
          })
        )
      ).pipe(
        Effect.filterOrFail((response) => response.status === 200),
        Effect.retry(Schedule.spaced("20 millis")),
        Effect.andThen(SubscriptionRef.update(acknowledged, (k) => k + 1))
      )
    }
    const total = options.users * 4
    const load = Effect.forEach(
      Array.from({ length: options.users }, (_, user) => user),
      (user) => Effect.forEach([0, 1, 2, 3], (n) => deliver(user, n), { discard: true }),
      { concurrency: 60, discard: true }
    )
    const disrupt = Effect.andThen(
      Stream.runHead(Stream.filter(SubscriptionRef.changes(acknowledged), (k) => k >= total / 3)),
      options.disrupt(bots[0]!)
    )
    yield* Effect.all([load, disrupt], { concurrency: 2, discard: true })

    // Every dialog and its reminder complete (polling the fake network, bounded). A reminder may go out
    // twice, so the wait counts the chats that have one.
    const outbound = Effect.map(network.messages, (messages) => messages.filter((m) => m.direction === "outbound"))
    yield* outbound.pipe(
      Effect.filterOrFail((messages) =>
        new Set(
          messages.filter((m) => m.content.kind === "text" && m.content.text === "reminder").map((m) =>
            m.chat.toString()
          )
        ).size >= options.users
      ),
      Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo({ duration: "120 seconds" })))
    )
    const texts = new Map<string, Array<string>>()
    for (const m of yield* outbound) {
      const key = m.chat.toString()
      texts.set(key, [...texts.get(key) ?? [], m.content.kind === "text" ? m.content.text : ""])
    }
    for (const bot of bots) bot.process.kill("SIGKILL")
    return { texts, outputs: bots.map((bot) => bot.output), provider, deadlocks: yield* Postgres.deadlocks(url) }
  })

/** Each user got every reply in order; a reply may repeat only if an instance stopped as it was sent. */
const checkReplies = (texts: Map<string, Array<string>>, users: number) => {
  let repeated = 0
  for (let user = 0; user < users; user++) {
    const got = texts.get(`+${phone(user)}`) ?? []
    const firsts = got.filter((text, i) => got.indexOf(text) === i)
    expect(firsts).toEqual(expected(user))
    repeated += got.length - firsts.length
  }
  return repeated
}

if (Postgres.binaries !== undefined) {
  describe("several instances on one PostgreSQL", () => {
    it.live(
      "1,000 users over three instances, one SIGKILLed mid-run: all answered once, in order, one instance per chat at a time",
      () =>
        Effect.gen(function*() {
          let killedAt = Infinity
          const users = 1_000
          const { deadlocks, outputs, provider, texts } = yield* run({
            users,
            disrupt: (bot) =>
              Effect.sync(() => {
                killedAt = performance.timeOrigin + performance.now()
                bot.process.kill("SIGKILL")
              })
          })
          const repeated = checkReplies(texts, users)
          expect(repeated).toBeLessThanOrEqual(32)
          // The instances' transactions take their chats' locks in one order: none waited in a cycle.
          expect(deadlocks).toBe(0)

          // The record of who handled what: per chat, no two instances' runs overlap. A run the kill cut
          // short lasted, at most, until the kill.
          const runs = outputs.flatMap((output) => {
            const lines = output().split("\n").map((line) => line.split(" "))
            const ends = new Map(
              lines.filter(([tag]) => tag === "ran").map(([, c, i, start, end]) => [`${c} ${i} ${start}`, Number(end)])
            )
            return lines.filter(([tag]) => tag === "run").map(([, chat, instance, start]) => ({
              chat: chat!,
              instance: instance!,
              start: Number(start),
              end: ends.get(`${chat} ${instance} ${start}`) ?? killedAt
            }))
          })
          expect(new Set(runs.map((r) => r.instance))).toEqual(new Set(["instance-0", "instance-1", "instance-2"]))
          const byChat = new Map<string, Array<(typeof runs)[number]>>()
          for (const r of runs) byChat.set(r.chat, [...byChat.get(r.chat) ?? [], r])
          const overlaps: Array<string> = []
          for (const [chat, chatRuns] of byChat) {
            const sorted = [...chatRuns].sort((a, b) => a.start - b.start)
            let last = sorted[0]!
            for (const r of sorted.slice(1)) {
              if (r.instance !== last.instance && r.start < last.end) {
                overlaps.push(`${chat}: ${last.instance} and ${r.instance}`)
              }
              if (r.end > last.end) last = r
            }
          }
          expect(overlaps).toEqual([])
          console.log(
            `instances suite: ${runs.length} dialog runs over three instances, one killed; ${repeated} replies sent twice`
          )
          const printed = outputs.map((output) => output()).join("\n")
          expect(printed).not.toContain(provider.apiKey)
          expect(printed).not.toContain(secret)
        }).pipe(Effect.provide(Layer.merge(FakeNetwork.layer({ autoAck: false }), NodeHttpClient.layerUndici))),
      300_000
    )

    it.live(
      "an instance paused past its holds cannot commit over the instances that took its chats; nothing lost or doubled",
      () =>
        Effect.gen(function*() {
          const users = 300
          const { deadlocks, outputs, texts } = yield* run({
            users,
            disrupt: (bot) =>
              Effect.gen(function*() {
                bot.process.kill("SIGSTOP")
                // Twice its 5-second holds: the other instances take its chats meanwhile.
                yield* Effect.sleep("10 seconds")
                bot.process.kill("SIGCONT")
              })
          })
          const repeated = checkReplies(texts, users)
          // Only sends the pause caught in flight may repeat; after it, the paused instance sends nothing
          // for the chats it lost, and its commits for them are refused.
          expect(repeated).toBeLessThanOrEqual(32)
          expect(deadlocks).toBe(0)
          expect(outputs[0]!()).toContain("is now held by another instance")
        }).pipe(Effect.provide(Layer.merge(FakeNetwork.layer({ autoAck: false }), NodeHttpClient.layerUndici))),
      300_000
    )

    it.live(
      "the example bot runs on PARLEY_DATABASE_URL=postgres://…: a booking completes",
      () =>
        Effect.gen(function*() {
          const url = yield* Postgres.createDatabase(yield* Postgres.start)
          const dataDir = yield* Effect.acquireRelease(
            Effect.sync(tempData),
            (dir) => Effect.sync(() => removeData(dir))
          )
          const port = yield* Effect.promise(freePort)
          const app = yield* Effect.acquireRelease(
            Effect.promise(() => startApp({ port, dataDir, env: { PARLEY_DATABASE_URL: url } })),
            (app) => Effect.sync(() => app.process.kill("SIGKILL"))
          )
          expect(app.output()).toContain(`Database:   ${url}`)
          const chat = follow(app.base)
          yield* Effect.addFinalizer(() => Effect.promise(() => chat.close()))
          const step = (text: string, reply: (t: string) => boolean) =>
            Effect.promise(async () => {
              const after = chat.messages.length
              await say(app.base, text)
              return (await chat.reply(reply, after)).content.text ?? ""
            })
          yield* step("book", (t) => t.includes("What's your name?"))
          yield* step("Grace", (t) => t.includes("Which date?"))
          yield* step("2026-12-01", (t) => t.includes("Pick a time"))
          yield* step("1", (t) => t.startsWith("Book Grace"))
          expect(yield* step("yes", (t) => t.startsWith("Booked"))).toContain("Grace, 2026-12-01 at 09:00")
        }),
      60_000
    )
  })
} else if (process.env.CI === "true") {
  it("several instances on one PostgreSQL: PostgreSQL is installed", () => {
    throw new Error("PostgreSQL binaries not found; .ci/run installs them")
  })
} else {
  console.warn("!!! PostgreSQL binaries not found: the several-instances suite did not run. `.ci/run` installs them.")
}
