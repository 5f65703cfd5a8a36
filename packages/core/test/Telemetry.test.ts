import { describe, expect, it } from "@effect/vitest"
import {
  Bot,
  ChatId,
  Failover,
  InboundEvent,
  Inbox,
  Message,
  MessagingError,
  MessagingService,
  Metrics,
  Telemetry
} from "@parley/core"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/testing/TestClock"
import { sqlite } from "./fixtures/databases.js"
import { scriptedDriver } from "./fixtures/drivers.js"

const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

describe("Telemetry", () => {
  it.effect("exports nothing unless OTEL_EXPORTER_OTLP_ENDPOINT is set", () =>
    Effect.gen(function*() {
      expect(yield* Telemetry.config.pipe(withEnv({ OTEL_SERVICE_NAME: "bot" }))).toEqual(Option.none())
    }))

  it.effect("reads the standard settings; the collector's headers stay redacted", () =>
    Effect.gen(function*() {
      const options = Option.getOrThrow(
        yield* Telemetry.config.pipe(withEnv({
          OTEL_EXPORTER_OTLP_ENDPOINT: "https://otlp.example:4318",
          OTEL_SERVICE_NAME: "clinic-bot",
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
          OTEL_EXPORTER_OTLP_HEADERS: "api-key=s3cr%3Dt, x-team = care",
          OTEL_METRIC_EXPORT_INTERVAL: "15000"
        }))
      )
      expect(options).toMatchObject({
        endpoint: "https://otlp.example:4318",
        serviceName: "clinic-bot",
        protocol: "http/json"
      })
      expect(Redacted.value(options.headers!)).toEqual({ "api-key": "s3cr=t", "x-team": "care" })
      expect(`${JSON.stringify(options)} ${String(options.headers)}`).not.toContain("s3cr")
      const wrong = yield* Effect.flip(Telemetry.config.pipe(withEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318",
        OTEL_EXPORTER_OTLP_PROTOCOL: "grpc"
      })))
      expect(String(wrong)).toContain("OTEL_EXPORTER_OTLP_PROTOCOL")
    }))

  it.effect("layerGauges samples the inbox depth, the open dialogs and each failover member's breaker", () =>
    Effect.gen(function*() {
      const database = yield* sqlite.fresh
      const down = new MessagingError.ProviderUnavailable({ provider: "gauge-primary", status: 503, reason: "down" })
      const primary = scriptedDriver("gauge-primary", [down, down])
      const secondary = scriptedDriver("gauge-secondary")
      const member = (driver: MessagingService.Driver) =>
        Layer.effect(MessagingService.MessagingService, MessagingService.make(driver, { retry: false }))
      const context = yield* Layer.build(
        Telemetry.layerGauges({ every: "1 minute" }).pipe(
          Layer.provideMerge(Bot.layerStore),
          Layer.provideMerge(
            Failover.layer([member(primary.driver), member(secondary.driver)], {
              breaker: { consecutiveFailures: 2, cooldown: "10 minutes" }
            })
          ),
          Layer.provide(database)
        )
      )
      const chat = ChatId.phone("+31612345678")
      yield* Effect.gen(function*() {
        const inbox = yield* Inbox.Inbox
        yield* inbox.enqueue([
          new InboundEvent.MessageReceived({
            provider: "test",
            eventId: "g1",
            messageId: "g1",
            chat,
            sender: chat,
            content: new InboundEvent.TextContent({ text: "hi" }),
            at: new Date(0)
          })
        ])
        // Two failures open the primary's breaker.
        for (let i = 0; i < 2; i++) yield* MessagingService.send(Message.text(chat, "hello"))
      }).pipe(Effect.provide(context))
      const gauge = (metric: Metric.Gauge<number>) =>
        Effect.map(Metric.value(metric), (state: Metric.GaugeState<number>) => state.value)
      const primaryBreaker = Metrics.breakerState.pipe(Metric.withAttributes({ provider: "gauge-primary" }))
      // The first sample ran as the layer was built; the next one, a minute on, sees the event and the breaker.
      expect(yield* gauge(primaryBreaker)).toBe(0)
      yield* TestClock.adjust("1 minute")
      yield* gauge(primaryBreaker).pipe(
        Effect.tap(() => Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))),
        Effect.repeat({ until: (state) => state === 2, times: 1_000 })
      )
      expect(yield* gauge(Metrics.inboxDepth)).toBe(1)
      expect(yield* gauge(Metrics.openDialogs)).toBe(0)
      expect(yield* gauge(primaryBreaker)).toBe(2)
      expect(yield* gauge(Metrics.breakerState.pipe(Metric.withAttributes({ provider: "gauge-secondary" })))).toBe(0)
    }))
})
