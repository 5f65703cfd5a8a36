/**
 * Captures everything an effect logs and what a trace exporter would ship of every span it records
 * (names, attributes, events, failures as `Cause.pretty` renders them), as text, so tests can assert
 * that no secret ever reaches logs or traces.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Tracer from "effect/Tracer"

/**
 * @since 0.1.0
 * @category models
 */
export interface Capture {
  /** Logs and spans recorded so far; provide it to the code under test. */
  readonly layer: Layer.Layer<never>
  /** Everything captured, as one string to search. */
  readonly text: Effect.Effect<string>
  /** How many log lines and spans were captured (to check the capture itself worked). */
  readonly counts: Effect.Effect<{ readonly logs: number; readonly spans: number }>
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Capture> = Effect.gen(function*() {
  const logs: Array<string> = []
  const spans: Array<Tracer.Span> = []
  const native = yield* Effect.tracer
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      const span = native.span(name, parent, context, links, startTime, kind, options)
      spans.push(span)
      return span
    },
    context: (f, fiber) => native.context(f, fiber)
  })
  const logger = Logger.make((options) => {
    logs.push(Logger.logfmtLogger.log(options))
  })
  // What a trace exporter ships: name, attributes, events, and a failure as `Cause.pretty` renders it.
  const spanText = (span: Tracer.Span) => {
    const native = span as Tracer.Span & {
      readonly attributes?: Map<string, unknown>
      readonly events?: ReadonlyArray<unknown>
    }
    const failure = span.status._tag === "Ended" && Exit.isFailure(span.status.exit)
      ? Cause.pretty(span.status.exit.cause)
      : undefined
    return JSON.stringify(
      {
        name: span.name,
        attributes: native.attributes ? Object.fromEntries(native.attributes) : {},
        events: native.events ?? [],
        failure
      },
      (_, value) => typeof value === "bigint" ? value.toString() : value
    )
  }
  return {
    layer: Layer.merge(Logger.replace(Logger.defaultLogger, logger), Layer.setTracer(tracer)),
    text: Effect.sync(() => [...logs, ...spans.map(spanText)].join("\n")),
    counts: Effect.sync(() => ({ logs: logs.length, spans: spans.length }))
  }
})
