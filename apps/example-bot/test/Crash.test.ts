import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { expect, it } from "@effect/vitest"
import * as ChatSendEmulator from "@parley/chatsend/emulator"
import { ProviderWebhook } from "@parley/core/provider"
import { FakeNetwork } from "@parley/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { randomBytes } from "node:crypto"
import { join } from "node:path"
import { freePort, removeData, spawnUntil, tempData, wahaMessage } from "./app.js"

const users = 200
const kills = 4
const secret = randomBytes(16).toString("hex")
const hmac = { secret: Redacted.make(secret), header: "X-Webhook-Hmac", algorithm: "sha512" } as const

const phone = (user: number) => `3162${String(user).padStart(7, "0")}`
const script = (user: number) => ["start", `u${user}-a1`, `u${user}-a2`, `u${user}-a3`]

/** A user's n-th message, as ChatSend's webhook. */
const webhook = (session: string, user: number, n: number) =>
  wahaMessage(session, phone(user), `${user}x${n}`, script(user)[n]!)

it.live(
  "the bot process SIGKILLed 4 times under webhook load: every acknowledged message handled once, every open dialog resumes",
  () =>
    Effect.gen(function*() {
      const network = yield* FakeNetwork.FakeNetwork
      const provider = yield* ChatSendEmulator.make()
      const dir = tempData()
      yield* Effect.addFinalizer(() => Effect.sync(() => removeData(dir)))
      const port = yield* Effect.promise(freePort)
      const env = {
        CRASH_PORT: String(port),
        CRASH_DB: join(dir, "parley.db"),
        PARLEY_CHATSEND_BASE_URL: provider.url,
        PARLEY_CHATSEND_API_KEY: provider.apiKey,
        PARLEY_CHATSEND_SESSION: provider.session,
        PARLEY_CHATSEND_WEBHOOK_SECRET: secret
      }
      const outputs: Array<() => string> = []
      const start = Effect.acquireRelease(
        Effect.promise(() => spawnUntil("test/CrashBot.ts", env, "crash bot ready")),
        (bot) => Effect.sync(() => bot.process.kill("SIGKILL"))
      ).pipe(Effect.tap((bot) => Effect.sync(() => outputs.push(bot.output))))
      let current = yield* start

      // Users write concurrently, each message after the previous one was acknowledged; like a
      // provider, a delivery that gets no 200 (the bot is down, or died mid-request) is sent again.
      const acknowledged = yield* SubscriptionRef.make(0)
      let redelivered = 0
      const deliver = (user: number, n: number) => {
        const body = webhook(provider.session, user, n)
        return Effect.tryPromise(() =>
          fetch(`http://127.0.0.1:${port}/webhooks/chatsend`, {
            method: "POST",
            body,
            headers: { "content-type": "application/json", "x-webhook-hmac": ProviderWebhook.sign(hmac, body) },
            signal: AbortSignal.timeout(5_000)
          }).then(async (response) => ({ status: response.status, body: await response.json() }))
        ).pipe(
          Effect.filterOrFail((response) => response.status === 200),
          Effect.retry(Schedule.spaced("50 millis")),
          Effect.tap((response) =>
            Effect.sync(() => {
              if ((response.body as { duplicates: number }).duplicates > 0) redelivered++
            })
          ),
          Effect.andThen(SubscriptionRef.update(acknowledged, (n) => n + 1))
        )
      }
      const total = users * 4
      const load = Effect.forEach(
        Array.from({ length: users }, (_, user) => user),
        (user) => Effect.forEach([0, 1, 2, 3], (n) => deliver(user, n), { discard: true }),
        { concurrency: 25, discard: true }
      )

      const outbound = Effect.map(network.messages, (messages) => messages.filter((m) => m.direction === "outbound"))
      const finished = Effect.map(outbound, (messages) =>
        new Set(messages.flatMap((m) =>
          m.content.kind === "text" && m.content.text.startsWith("done ") ? [m.chat.toString()] : []
        ))
          .size)

      // Kill the bot each time another fifth of the messages has been acknowledged, then start it again.
      const openAtKill: Array<number> = []
      const thresholds = Array.from({ length: kills }, (_, k) =>
        ((k + 1) * total) / (kills + 1))
      const killAt = (threshold: number) =>
        Effect.gen(function*() {
          yield* Stream.runHead(Stream.filter(SubscriptionRef.changes(acknowledged), (n) =>
            n >= threshold))
          current.process.kill("SIGKILL")
          yield* Effect.promise(() => current.exited)
          const started = new Set((yield* network.messages).map((m) => m.chat.toString())).size
          openAtKill.push(started - (yield* finished))
          current = yield* start
        })
      const killer = Effect.forEach(thresholds, killAt, { discard: true })

      yield* Effect.all([load, killer], { concurrency: 2, discard: true })
      expect(yield* SubscriptionRef.get(acknowledged)).toBe(total)

      // Every dialog runs to its end (polling the fake network, bounded).
      yield* finished.pipe(
        Effect.filterOrFail((n) => n === users),
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ duration: "90 seconds" })))
      )

      const messages = yield* outbound
      const byUser = new Map<string, Array<string>>()
      for (const m of messages) {
        byUser.set(m.chat.toString(), [
          ...byUser.get(m.chat.toString()) ?? [],
          m.content.kind === "text" ? m.content.text : ""
        ])
      }
      expect(byUser.size).toBe(users)
      for (let user = 0; user < users; user++) {
        const texts = byUser.get(`+${phone(user)}`) ?? []
        // Each message was the answer to its own question: none lost, none taken twice.
        expect(new Set(texts)).toEqual(
          new Set([
            "q1: your first answer?",
            "q2: your second answer?",
            "q3: your third answer?",
            `done u${user}-a1|u${user}-a2|u${user}-a3`
          ])
        )
      }
      // Kills fell while dialogs were open, and every one of them resumed (above).
      expect(openAtKill).toHaveLength(kills)
      for (const open of openAtKill) expect(open).toBeGreaterThan(0)
      // A reply goes out twice only when the bot died while it was in flight (sent, the provider's answer
      // not yet recorded): at most one per chat being handled, and the bot handles 32 chats at once.
      const duplicates = messages.length - users * 4
      expect(duplicates).toBeLessThanOrEqual(kills * 32)
      console.log(
        `crash suite: ${kills} kills, open dialogs at each: ${
          openAtKill.join(", ")
        }; ${redelivered} redeliveries dropped as duplicates; ${duplicates} replies sent twice`
      )

      // No credential in anything the bot printed, across all its lives.
      const printed = outputs.map((output) => output()).join("\n")
      expect(printed).not.toContain(provider.apiKey)
      expect(printed).not.toContain(secret)
    }).pipe(Effect.provide(Layer.merge(FakeNetwork.layer({ autoAck: false }), NodeHttpClient.layerUndici))),
  240_000
)
