/**
 * Failover cost: the latency a send pays when the primary provider is down (connections refused),
 * with the primary's breaker closed (every send tries it first) and open (skipped), against sending
 * to the secondary directly. Sequential sends, so each latency is one send's own.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { ChatSend } from "@parley/chatsend"
import { ChatId, Failover, Message, MessagingService } from "@parley/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import { createServer } from "node:net"
import * as LoopbackProvider from "./LoopbackProvider.js"
import { collect, now, quantile, table } from "./Report.js"

const count = 5_000
const secondary = await LoopbackProvider.spawnServer()
// A port nothing listens on: the primary refuses every connection.
const downPort = await new Promise<number>((resolve) => {
  const server = createServer().listen(0, "127.0.0.1", () => {
    const address = server.address()
    server.close(() => resolve(typeof address === "object" && address ? address.port : 0))
  })
})

const chatsend = (baseUrl: string) =>
  ChatSend.layer({ baseUrl, apiKey: Redacted.make("bench-api-key"), session: "default", retry: false })
const primary = chatsend(`http://127.0.0.1:${downPort}`)
const direct = chatsend(secondary.url)

const measure = async (layer: Layer.Layer<MessagingService.MessagingService>) => {
  const runtime = ManagedRuntime.make(layer)
  const service = await runtime.runPromise(MessagingService.MessagingService)
  const latencies = await runtime.runPromise(Effect.forEach(
    Array.from({ length: count + 500 }, (_, i) => i),
    (i) =>
      Effect.suspend(() => {
        const t = now()
        return Effect.map(
          service.send(Message.text(ChatId.phone(`+3161${String(i).padStart(7, "0")}`), `hello ${i}`)),
          () => now() - t
        )
      })
  ))
  await runtime.dispose()
  return latencies.slice(500) // the first 500 warm up (and open the breaker)
}

const configs = [
  ["secondary directly (baseline)", direct],
  [
    "failover, primary down, breaker closed",
    Failover.layer([primary, direct], { breaker: { consecutiveFailures: 1e9 } })
  ],
  [
    "failover, primary down, breaker open",
    Failover.layer([primary, direct], { breaker: { consecutiveFailures: 1, cooldown: "1 hour" } })
  ]
] as const

const results = new Map<string, Array<number>>()
for (let round = 0; round < 3; round++) {
  for (const [name, layer] of configs) {
    collect()
    const latencies = await measure(layer.pipe(Layer.provide(NodeHttpClient.layerUndici)))
    results.set(name, [...results.get(name) ?? [], ...latencies])
  }
}
const signed = (ms: number) => `${ms >= 0 ? "+" : ""}${ms.toFixed(3)}`
const base = results.get(configs[0][0])!
const rows = configs.map(([name]) => {
  const latencies = results.get(name)!
  const p50 = quantile(latencies, 0.5)
  const p99 = quantile(latencies, 0.99)
  return [
    name,
    p50.toFixed(3),
    p99.toFixed(3),
    signed(p50 - quantile(base, 0.5)),
    signed(p99 - quantile(base, 0.99))
  ]
})
table("4. Failover cost: primary down, one send at a time", [
  "route",
  "p50 ms",
  "p99 ms",
  "added p50 ms",
  "added p99 ms"
], rows)
const open = results.get(configs[2][0])!
console.log(
  `\nTarget: breaker open adds < 1 ms at p99. Measured: ${signed(quantile(open, 0.99) - quantile(base, 0.99))} ms.`
)
await secondary.close()
