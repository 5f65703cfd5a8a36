/**
 * Parley's metrics, for any `effect/Metric` exporter (`Telemetry` sends them over OTLP): sends by
 * provider and kind, the engine's events and store, and gauges of its state.
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"

// This module's counters, whose attributes `tagged` can bake into a new counter of the same series once:
// `Metric.withAttributes` adds the attributes to the context on every update.
const counters = new WeakSet<Metric.Counter<number>>()
const counter = (name: string, description: string): Metric.Counter<number> => {
  const metric = Metric.counter(name, { description })
  counters.add(metric)
  return metric
}

/**
 * Messages a provider accepted.
 *
 * @since 0.1.0
 * @category metrics
 */
export const sent = counter("parley_messages_sent_total", "Messages a provider accepted")

/**
 * Sends that ended in an error (after retries).
 *
 * @since 0.1.0
 * @category metrics
 */
export const failed = counter("parley_messages_failed_total", "Sends that ended in an error")

/**
 * Attempts repeated by the retry schedule.
 *
 * @since 0.1.0
 * @category metrics
 */
export const retried = counter("parley_messages_retried_total", "Send attempts retried")

/**
 * Sends that moved on to the next provider of a failover group.
 *
 * @since 0.1.0
 * @category metrics
 */
export const failedOver = counter("parley_messages_failed_over_total", "Sends moved to the next provider")

/**
 * Tags a metric with the provider and message kind (its `provider` and `kind` attributes). For this
 * module's counters the attributes go into a counter of the same series once, so updating the tagged
 * metric costs no more than updating the counter.
 *
 * @since 0.1.0
 * @category metrics
 */
export const tagged = (
  metric: Metric.Counter<number>,
  provider: string,
  kind: string
): Metric.Counter<number> =>
  counters.has(metric)
    ? Metric.counter(metric.id, {
      description: metric.description,
      attributes: { ...metric.attributes, provider, kind }
    })
    : Metric.withAttributes(metric, { provider, kind })

/**
 * Events the engine handled and committed (attributes `event`: MessageReceived, StatusChanged, TimerFired;
 * and `outcome`: handled or dead-lettered).
 *
 * @since 0.1.0
 * @category metrics
 */
export const events = Metric.counter("parley_events_total", { description: "Events the engine committed" })

/**
 * Transactions the engine's store committed: each holds the enqueues and event commits that arrived
 * together (group commit).
 *
 * @since 0.1.0
 * @category metrics
 */
export const transactions = Metric.counter("parley_store_transactions_total", {
  description: "Transactions of the engine's store"
})

/**
 * SQL statements the engine's store ran (with `transactions` and `events`: statements per event).
 *
 * @since 0.1.0
 * @category metrics
 */
export const statements = Metric.counter("parley_store_statements_total", {
  description: "SQL statements of the engine's store"
})

/**
 * Rows per table of the engine's store (attribute `table`), as of the last retention pass.
 *
 * @since 0.1.0
 * @category metrics
 */
export const storeRows = Metric.gauge("parley_store_rows", { description: "Rows per table of the engine's store" })

/**
 * The database's size on disk in bytes, as of the last retention pass.
 *
 * @since 0.1.0
 * @category metrics
 */
export const storeBytes = Metric.gauge("parley_store_bytes", { description: "The database's size on disk" })

/**
 * Retention passes completed.
 *
 * @since 0.1.0
 * @category metrics
 */
export const pruneRuns = Metric.counter("parley_store_prune_runs_total", { description: "Retention passes completed" })

/**
 * Events waiting in the inbox, sampled by `Telemetry.layerGauges`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const inboxDepth = Metric.gauge("parley_inbox_depth", { description: "Events waiting in the inbox" })

/**
 * Chats with a dialog open (waiting for an answer or a timer), sampled by `Telemetry.layerGauges`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const openDialogs = Metric.gauge("parley_open_dialogs", { description: "Chats with a dialog open" })

/**
 * Each failover member's circuit breaker (attribute `provider`): 0 closed, 1 half-open, 2 open; sampled by
 * `Telemetry.layerGauges`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const breakerState = Metric.gauge("parley_breaker_state", {
  description: "Circuit breaker per provider: 0 closed, 1 half-open, 2 open"
})

/**
 * How long the engine took to handle an event and commit it, in milliseconds (attribute `event`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const handlerLatency = Metric.histogram("parley_handler_latency_ms", {
  boundaries: Metric.exponentialBoundaries({ start: 1, factor: 2, count: 16 }),
  description: "How long the engine took to handle and commit an event, in milliseconds"
})
