/**
 * Counters for sends, tagged with the provider and the message kind, for any `effect/Metric` exporter.
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"
import * as MetricKey from "effect/MetricKey"
import * as MetricLabel from "effect/MetricLabel"

// Each counter's key, so `tagged` can bake the tags into a key once: a metric tagged with
// `Metric.tagged` builds a new key (and hashes its labels) on every update.
const keys = new WeakMap<object, MetricKey.MetricKey.Counter<number>>()
const counter = (name: string, description: string): Metric.Metric.Counter<number> => {
  const key = MetricKey.counter(name, { description })
  const metric = Metric.fromMetricKey(key)
  keys.set(metric, key)
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
 * Tags a metric with the provider and message kind. For this module's counters the tags go into the
 * metric's key once, so updating the tagged metric costs no more than updating the counter.
 *
 * @since 0.1.0
 * @category metrics
 */
export const tagged = (
  metric: Metric.Metric.Counter<number>,
  provider: string,
  kind: string
): Metric.Metric.Counter<number> => {
  const labels = [MetricLabel.make("provider", provider), MetricLabel.make("kind", kind)]
  const key = keys.get(metric)
  return key === undefined
    ? Metric.taggedWithLabels(metric, labels)
    : Metric.fromMetricKey(MetricKey.taggedWithLabels(key, labels))
}
