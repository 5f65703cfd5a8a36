/**
 * OpenTelemetry export over OTLP/HTTP (through Effect's own `effect/observability/Otlp` module, without
 * the OpenTelemetry SDK): the spans Parley records (the webhook request, the engine's `Bot.handle`, which
 * links to the request that brought its event, and the provider's HTTP send inside it), its metrics
 * (`Metrics`) and the logs, to any collector or vendor that takes OTLP.
 *
 * `layerConfig()` reads the standard settings and does nothing unless `OTEL_EXPORTER_OTLP_ENDPOINT` is
 * set; `layerGauges()` samples the gauges of the engine's state (inbox depth, open dialogs, each
 * failover member's breaker). No credential reaches an export: keys and tokens are `Redacted`, and
 * webhook URLs carrying one are traced without it (`WebhookServer.tracerDisabledWhen`).
 *
 * @example
 * ```ts
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Telemetry } from "@parley/core"
 * import { Layer } from "effect"
 *
 * // OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_SERVICE_NAME=clinic-bot node main.js
 * const TelemetryLive = Layer.merge(Telemetry.layerConfig(), Telemetry.layerGauges()).pipe(
 *   Layer.provide(NodeHttpClient.layerUndici)
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Otlp from "effect/observability/Otlp"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as CircuitBreaker from "./CircuitBreaker.js"
import * as ConversationStore from "./ConversationStore.js"
import * as Failover from "./Failover.js"
import * as Inbox from "./Inbox.js"
import * as Metrics from "./Metrics.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The collector's base URL; `/v1/traces`, `/v1/metrics` and `/v1/logs` are posted under it. */
  readonly endpoint: string
  /** `service.name` of every export (default `parley`). */
  readonly serviceName?: string | undefined
  readonly serviceVersion?: string | undefined
  /** `http/protobuf` (the OTLP default) or `http/json`. */
  readonly protocol?: "http/protobuf" | "http/json" | undefined
  /** Headers for the collector (a vendor's API key, say): never logged or exported. */
  readonly headers?: Redacted.Redacted<Record<string, string>> | undefined
  /** How often metrics are exported (default 60 s, as the OpenTelemetry SDKs do). */
  readonly metricsInterval?: Duration.Input | undefined
  /** How often finished spans and logs are exported (default 5 s). */
  readonly tracesInterval?: Duration.Input | undefined
}

/**
 * Exports spans, metrics and logs to `options.endpoint` for the life of the layer; what is left is
 * flushed when it closes.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<never, never, HttpClient.HttpClient> => {
  const settings = {
    baseUrl: options.endpoint,
    resource: { serviceName: options.serviceName ?? "parley", serviceVersion: options.serviceVersion },
    headers: options.headers === undefined ? undefined : Redacted.value(options.headers),
    metricsExportInterval: options.metricsInterval ?? "60 seconds",
    tracerExportInterval: options.tracesInterval ?? "5 seconds",
    loggerExportInterval: options.tracesInterval ?? "5 seconds"
  }
  return options.protocol === "http/json" ? Otlp.layerJson(settings) : Otlp.layerProtobuf(settings)
}

// `key=value,key=value`, values percent-encoded, as OTEL_EXPORTER_OTLP_HEADERS is written.
const parseHeaders = (text: string): Record<string, string> =>
  Object.fromEntries(
    text.split(",").filter((pair) => pair.includes("=")).map((pair) => {
      const at = pair.indexOf("=")
      return [pair.slice(0, at).trim(), decodeURIComponent(pair.slice(at + 1).trim())]
    })
  )

const millis = (name: string) => Config.option(Config.map(Config.Int(name), Duration.millis))

/**
 * The standard OpenTelemetry settings: `OTEL_EXPORTER_OTLP_ENDPOINT` (none: no export),
 * `OTEL_SERVICE_NAME`, `OTEL_SERVICE_VERSION`, `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf` or
 * `http/json`), `OTEL_EXPORTER_OTLP_HEADERS` (`key=value,…`), `OTEL_METRIC_EXPORT_INTERVAL` and
 * `OTEL_BSP_SCHEDULE_DELAY` (milliseconds).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Option.Option<Options>> = Config.all({
  endpoint: Config.option(Config.NonEmptyString("OTEL_EXPORTER_OTLP_ENDPOINT")),
  serviceName: Config.option(Config.NonEmptyString("OTEL_SERVICE_NAME")),
  serviceVersion: Config.option(Config.NonEmptyString("OTEL_SERVICE_VERSION")),
  protocol: Config.withDefault(
    Config.Literals(["http/protobuf", "http/json"], "OTEL_EXPORTER_OTLP_PROTOCOL"),
    "http/protobuf"
  ),
  headers: Config.option(
    Config.map(Config.Redacted("OTEL_EXPORTER_OTLP_HEADERS"), (r) => Redacted.make(parseHeaders(Redacted.value(r))))
  ),
  metricsInterval: millis("OTEL_METRIC_EXPORT_INTERVAL"),
  tracesInterval: millis("OTEL_BSP_SCHEDULE_DELAY")
}).pipe(Config.map((c) =>
  Option.map(c.endpoint, (endpoint): Options => ({
    endpoint,
    serviceName: Option.getOrUndefined(c.serviceName),
    serviceVersion: Option.getOrUndefined(c.serviceVersion),
    protocol: c.protocol,
    headers: Option.getOrUndefined(c.headers),
    metricsInterval: Option.getOrUndefined(c.metricsInterval),
    tracesInterval: Option.getOrUndefined(c.tracesInterval)
  }))
))

/**
 * {@link layer} with options from `Config` (by default {@link config}); exports nothing when no
 * endpoint is set.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Option.Option<Options>> = config
): Layer.Layer<never, Config.ConfigError, HttpClient.HttpClient> =>
  Layer.unwrap(Effect.map(options, Option.match({ onNone: () => Layer.empty, onSome: layer })))

const breakerCode = (state: CircuitBreaker.State): number =>
  state._tag === "Closed" ? 0 : state._tag === "HalfOpen" ? 1 : 2

/**
 * Samples the gauges of the engine's state every `every` (default 10 s): `Metrics.inboxDepth`,
 * `Metrics.openDialogs`, and, when a `Failover` group is in context, `Metrics.breakerState` per
 * provider. A sample the database cannot answer is skipped.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerGauges = (
  options: { readonly every?: Duration.Input | undefined } = {}
): Layer.Layer<never, never, Inbox.Inbox | ConversationStore.ConversationStore> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const inbox = yield* Inbox.Inbox
    const store = yield* ConversationStore.ConversationStore
    const failover = yield* Effect.serviceOption(Failover.Failover)
    const breakers = Option.match(failover, {
      onNone: () => [],
      onSome: ({ members }) =>
        members.map((member) => ({
          breaker: member.breaker,
          gauge: Metric.withAttributes(Metrics.breakerState, { provider: member.service.provider })
        }))
    })
    const sample = Effect.all([
      Effect.flatMap(inbox.pendingCount, (n) => Metric.update(Metrics.inboxDepth, n)),
      Effect.flatMap(store.openDialogs, (n) => Metric.update(Metrics.openDialogs, n)),
      Effect.forEach(
        breakers,
        ({ breaker, gauge }) => Effect.flatMap(breaker.state, (state) => Metric.update(gauge, breakerCode(state))),
        { discard: true }
      )
    ], { discard: true }).pipe(
      Effect.catchCause((cause) => Effect.logDebug("sampling the engine's gauges failed", cause)),
      Effect.withTracerEnabled(false)
    )
    yield* sample.pipe(
      Effect.repeat(Schedule.spaced(options.every ?? "10 seconds")),
      Effect.forkScoped
    )
  }))
