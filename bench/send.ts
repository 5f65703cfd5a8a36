/**
 * Send overhead: `MessagingService.send` through the ChatSend layer (retry and rate limit off) vs the
 * same HTTP requests made with undici directly, against the same loopback server, at concurrency 1
 * and 64. A third row makes the same request with Effect's `HttpClient` alone (`effect/http`, on
 * `@effect/platform-node`'s undici client): the floor for any client built on it. Rounds alternate
 * between the clients so drift hits all alike; the median round is reported. (undici directly is the
 * bench's own undici 7; Effect 4's client runs on undici 8.)
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { ChatSend } from "@parley/chatsend"
import { ChatId, Message, MessagingService } from "@parley/core"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import { Agent, request } from "undici"
import * as LoopbackProvider from "./LoopbackProvider.js"
import { median, now, quantile, ratio, table } from "./Report.js"

const apiKey = "bench-api-key"
const session = "default"
const to = (i: number) => `+3161${String(i % 10_000_000).padStart(7, "0")}`

interface Round {
  readonly perSecond: number
  readonly latencies: ReadonlyArray<number>
}

const provider = await LoopbackProvider.spawnServer()

// The baseline: the request ChatSend's layer makes, by hand, on undici's own Agent.
const agent = new Agent()
const raw = async (i: number) => {
  const response = await request(`${provider.url}/sendText`, {
    method: "POST",
    dispatcher: agent,
    headers: { authorization: `Bearer ${apiKey}`, accept: "application/json", "content-type": "application/json" },
    body: JSON.stringify({ session, to: to(i), text: `hello ${i}` })
  })
  const body = await response.body.json() as { id: string }
  if (response.statusCode !== 200 || typeof body.id !== "string") throw new Error("unexpected answer")
}
const rawRound = async (count: number, concurrency: number): Promise<Round> => {
  const latencies: Array<number> = []
  let next = 0
  const started = now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const i = next++
      const t = now()
      await raw(i)
      latencies.push(now() - t)
    }
  }))
  return { perSecond: count / ((now() - started) / 1000), latencies }
}

// Parley: the service as an app uses it, driven from Effect.
const runtime = ManagedRuntime.make(
  ChatSend.layer({ baseUrl: provider.url, apiKey: Redacted.make(apiKey), session, retry: false, rateLimit: false })
    .pipe(Layer.provideMerge(NodeHttpClient.layerUndici))
)
const service = await runtime.runPromise(MessagingService.MessagingService)
const client = await runtime.runPromise(HttpClient.HttpClient)

const effectRound = <E>(send: (i: number) => Effect.Effect<unknown, E>) => (count: number, concurrency: number) =>
  runtime.runPromise(Effect.gen(function*() {
    const latencies: Array<number> = []
    const started = now()
    yield* Effect.forEach(
      Array.from({ length: count }, (_, i) => i),
      (i) =>
        Effect.suspend(() => {
          const t = now()
          return Effect.map(send(i), () => void latencies.push(now() - t))
        }),
      { concurrency, discard: true }
    )
    return { perSecond: count / ((now() - started) / 1000), latencies } satisfies Round
  }))

const platformRound = effectRound((i) =>
  client.execute(
    HttpClientRequest.post(`${provider.url}/sendText`).pipe(
      HttpClientRequest.bearerToken(apiKey),
      HttpClientRequest.acceptJson,
      HttpClientRequest.bodyJsonUnsafe({ session, to: to(i), text: `hello ${i}` })
    )
  ).pipe(Effect.flatMap((response) => response.json))
)
const parleyRound = effectRound((i) => service.send(Message.text(ChatId.phone(to(i)), `hello ${i}`)))

const rows: Array<Array<string>> = []
const summary: Array<{ concurrency: number; ratio: number; floor: number }> = []
for (const [concurrency, count] of [[1, 4_000], [64, 30_000]] as const) {
  const clients = { raw: rawRound, platform: platformRound, parley: parleyRound }
  const rounds = { raw: [] as Array<Round>, platform: [] as Array<Round>, parley: [] as Array<Round> }
  for (const run of Object.values(clients)) await run(1_000, concurrency)
  for (let round = 0; round < 3; round++) {
    for (const [name, run] of Object.entries(clients)) {
      rounds[name as keyof typeof rounds].push(await run(count, concurrency))
    }
  }
  const pick = (rs: ReadonlyArray<Round>) => {
    const perSecond = median(rs.map((r) => r.perSecond))
    const latencies = rs.flatMap((r) => r.latencies)
    return { perSecond, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) }
  }
  const base = pick(rounds.raw)
  const platform = pick(rounds.platform)
  const parley = pick(rounds.parley)
  summary.push({ concurrency, ratio: parley.perSecond / base.perSecond, floor: platform.perSecond / base.perSecond })
  for (
    const [name, r] of [["undici (baseline)", base], ["Effect HttpClient alone", platform], [
      "Parley send",
      parley
    ]] as const
  ) {
    rows.push([
      name,
      String(concurrency),
      r.perSecond.toFixed(0),
      ratio(r.perSecond, base.perSecond),
      r.p50.toFixed(3),
      r.p99.toFixed(3)
    ])
  }
}
table(
  "1. Send overhead: MessagingService.send (ChatSend layer, retry/rate limit off) vs raw undici",
  ["client", "concurrency", "sends/s", "vs baseline", "p50 ms", "p99 ms"],
  rows
)
console.log(
  `\nTarget: Parley >= 0.8x the throughput of Effect's HttpClient alone. Measured: ${
    summary.map((s) =>
      `${(s.ratio / s.floor).toFixed(2)}x at concurrency ${s.concurrency} (vs raw undici: Parley ${
        s.ratio.toFixed(2)
      }x, HttpClient alone ${s.floor.toFixed(2)}x)`
    ).join(", ")
  }.`
)

await runtime.dispose()
await agent.close()
await provider.close()
