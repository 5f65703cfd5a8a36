/**
 * OpenTelemetry export from the example bot's process: an OTLP/HTTP receiver on loopback, the bot
 * started with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at it and Wawp configured as a real API (here
 * this test's emulator, so the test knows every credential in play), one dialog through webhooks,
 * engine and provider sends.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { expect, it } from "@effect/vitest"
import { ChatId } from "@parley/core"
import * as MultisessionEmulator from "@parley/multisession/emulator"
import { FakeNetwork } from "@parley/testing"
import * as WawpEmulator from "@parley/wawp/emulator"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { randomBytes } from "node:crypto"
import { createServer } from "node:http"
import { freePort, removeData, spawnUntil, tempData } from "./app.js"

interface Received {
  readonly path: string
  readonly body: string
}

/** An OTLP/HTTP (JSON) receiver on a free loopback port, keeping every request body. */
const receiver = Effect.acquireRelease(
  Effect.callback<{ readonly url: string; readonly received: Array<Received>; readonly close: () => void }>(
    (resume) => {
      const received: Array<Received> = []
      const server = createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          received.push({ path: request.url ?? "", body: Buffer.concat(chunks).toString("utf8") })
          response.writeHead(200, { "content-type": "application/json" }).end("{}")
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        const port = typeof address === "object" && address ? address.port : 0
        resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, received, close: () => server.close() }))
      })
    }
  ),
  ({ close }) => Effect.sync(close)
)

interface Span {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly links?: ReadonlyArray<{ readonly traceId: string; readonly spanId: string }>
  readonly attributes?: ReadonlyArray<{ readonly key: string; readonly value: Record<string, unknown> }>
  readonly events?: ReadonlyArray<{
    readonly name: string
    readonly attributes?: ReadonlyArray<{ readonly key: string; readonly value: Record<string, unknown> }>
  }>
}

const spansOf = (received: ReadonlyArray<Received>): Array<Span> =>
  received.filter((r) => r.path === "/v1/traces").flatMap((r) =>
    JSON.parse(r.body).resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans))
  )

const metricNames = (received: ReadonlyArray<Received>): Set<string> =>
  new Set(
    received.filter((r) => r.path === "/v1/metrics").flatMap((r) =>
      JSON.parse(r.body).resourceMetrics.flatMap((rm: any) =>
        rm.scopeMetrics.flatMap((sm: any) => sm.metrics.map((m: any) => m.name))
      )
    )
  )

const user = ChatId.phone("+31612345678")

it.live(
  "exports one dialog over OTLP: webhook, engine and provider send are one trace or linked; metrics arrive; no secret is exported",
  () =>
    Effect.gen(function*() {
      const otlp = yield* receiver
      const port = yield* Effect.promise(freePort)
      const dataDir = tempData()
      yield* Effect.addFinalizer(() => Effect.sync(() => removeData(dataDir)))
      const webhookSecret = randomBytes(16).toString("hex")
      const network = yield* FakeNetwork.FakeNetwork
      const wawp = yield* WawpEmulator.make({
        accessToken: randomBytes(16).toString("hex"),
        webhookSecret,
        webhookUrl: `http://127.0.0.1:${port}/webhooks/wawp`
      })
      const app = yield* Effect.acquireRelease(
        Effect.promise(() =>
          spawnUntil("src/main.ts", {
            PARLEY_PORT: String(port),
            PARLEY_DATA_DIR: dataDir,
            PARLEY_WAWP_BASE_URL: wawp.url,
            PARLEY_WAWP_INSTANCE_ID: wawp.instanceId,
            PARLEY_WAWP_ACCESS_TOKEN: wawp.accessToken,
            PARLEY_WAWP_WEBHOOK_SECRET: webhookSecret,
            OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
            OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
            OTEL_SERVICE_NAME: "clinic-bot-test",
            OTEL_METRIC_EXPORT_INTERVAL: "300",
            OTEL_BSP_SCHEDULE_DELAY: "200"
          }, "is running")
        ),
        (app) => Effect.sync(() => app.process.kill("SIGKILL"))
      )

      // The dialog: a user writes through Wawp, the bot answers through Wawp.
      const answer = (count: number) =>
        Effect.repeat(network.messages, {
          until: (messages) => messages.filter((m) => m.direction === "outbound").length >= count,
          schedule: Schedule.spaced("50 millis")
        }).pipe(Effect.timeout("20 seconds"))
      for (const [i, text] of ["book", "Ada"].entries()) {
        yield* network.userSends({ from: user, to: wawp.business, content: { kind: "text", text } })
        yield* answer(i + 1)
      }
      const replies = (yield* network.messages).filter((m) => m.direction === "outbound")
      expect(replies.map((m) => [m.provider, m.content.kind === "text" ? m.content.text : ""])).toEqual([
        ["wawp", "Great, let's book. What's your name?"],
        ["wawp", "Which date? Please write it as YYYY-MM-DD."]
      ])
      // A clean stop flushes what is left.
      app.process.kill("SIGINT")
      expect(yield* Effect.promise(() => app.exited)).toBe(0)

      const spans = spansOf(otlp.received)
      const receipts = spans.filter((s) => s.name === "WebhookServer.receive")
      const handled = spans.filter((s) => s.name === "Bot.handle")
      expect(receipts.length).toBeGreaterThanOrEqual(2)
      expect(handled.length).toBeGreaterThanOrEqual(2)
      // Each handling links to the webhook request that brought its event...
      for (const handle of handled) {
        const [link] = handle.links ?? []
        expect(receipts.some((r) => r.traceId === link?.traceId && r.spanId === link?.spanId)).toBe(true)
      }
      // ...and the provider's HTTP send runs inside it, in its trace.
      const byId = new Map(spans.map((s) => [s.spanId, s]))
      const within = (span: Span, ancestor: Span): boolean => {
        const parent = span.parentSpanId === undefined ? undefined : byId.get(span.parentSpanId)
        return parent !== undefined && (parent.spanId === ancestor.spanId || within(parent, ancestor))
      }
      // (A send's HTTP request is an `http.request` event on its `MessagingService.send` span.)
      const attribute = (
        of: { readonly attributes?: Span["attributes"] },
        key: string
      ) => of.attributes?.find((a) => a.key === key)?.value.stringValue
      const sends = spans.filter((s) =>
        s.name === "MessagingService.send" &&
        (s.events ?? []).some((e) =>
          e.name === "http.request" && attribute(e, "parley.provider") === "wawp" &&
          attribute(e, "url.path") === "/v2/send/text"
        )
      )
      expect(sends.length).toBe(2)
      for (const send of sends) expect(handled.some((h) => h.traceId === send.traceId && within(send, h))).toBe(true)

      const metrics = metricNames(otlp.received)
      for (
        const name of [
          "parley_messages_sent_total",
          "parley_events_total",
          "parley_inbox_depth",
          "parley_open_dialogs",
          "parley_breaker_state"
        ]
      ) expect(metrics).toContain(name)

      const exported = otlp.received.map((r) => r.body).join("\n")
      expect(exported).toContain("clinic-bot-test")
      for (
        const secret of [
          wawp.accessToken,
          webhookSecret,
          MultisessionEmulator.deviceToken("clinic-device"),
          "callbell-test-key"
        ]
      ) expect(exported).not.toContain(secret)
      expect(app.output()).not.toContain(wawp.accessToken)
    }).pipe(Effect.provide(Layer.merge(FakeNetwork.layer({ autoAck: false }), NodeHttpClient.layerUndici))),
  90_000
)
