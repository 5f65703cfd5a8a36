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
 * What a capture recording is checked for over a long run, keeping only the lines that matter.
 *
 * @since 0.1.0
 * @category models
 */
export interface Watch {
  readonly layer: Layer.Layer<never>
  /** The log lines and finished spans (as text) that contained one of the needles. */
  readonly leaks: Effect.Effect<ReadonlyArray<string>>
  /** How many log lines and finished spans were checked. */
  readonly counts: Effect.Effect<{ readonly logs: number; readonly spans: number }>
}

// What a trace exporter ships: name, attributes, events, and a failure as `Cause.pretty` renders it.
const spanText = (span: Tracer.Span) => {
  // Events are the native span's own (`Tracer.NativeSpan`), as exporters read them.
  const events = (span as Tracer.Span & { readonly events?: ReadonlyArray<unknown> }).events ?? []
  const failure = span.status._tag === "Ended" && Exit.isFailure(span.status.exit)
    ? Cause.pretty(span.status.exit.cause)
    : undefined
  return JSON.stringify(
    {
      name: span.name,
      attributes: Object.fromEntries(span.attributes),
      events,
      failure
    },
    (_, value) => typeof value === "bigint" ? value.toString() : value
  )
}

/**
 * A layer of a logger in place of the default one and a tracer (wrapping the current one) that hand
 * every log line and new span to the sinks.
 */
const recording = (onLog: (line: string) => void, onSpan: (span: Tracer.Span) => void) =>
  Effect.map(Tracer.Tracer, (native): Layer.Layer<never> => {
    const tracer = Tracer.make({
      span: (options) => {
        const span = native.span(options)
        onSpan(span)
        return span
      },
      context: native.context
    })
    const logger = Logger.make((options) => onLog(Logger.formatLogFmt.log(options)))
    // The loggers in place where the layer is provided, with ours for the default one.
    const loggers = Layer.effect(
      Logger.CurrentLoggers,
      Effect.map(Logger.CurrentLoggers, (current) => {
        const replaced = new Set(current)
        replaced.delete(Logger.defaultLogger)
        return replaced.add(logger)
      })
    )
    return Layer.merge(loggers, Layer.succeed(Tracer.Tracer, tracer))
  })

/**
 * Records every log line and span, to search afterwards.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Capture> = Effect.gen(function*() {
  const logs: Array<string> = []
  const spans: Array<Tracer.Span> = []
  const layer = yield* recording((line) => logs.push(line), (span) => spans.push(span))
  return {
    layer,
    text: Effect.sync(() => [...logs, ...spans.map(spanText)].join("\n")),
    counts: Effect.sync(() => ({ logs: logs.length, spans: spans.length }))
  }
})

/**
 * Checks every log line, and every span as it ends, for any of `needles` (secrets, say), keeping
 * only the lines that contain one: for suites too long to keep everything they log.
 *
 * @since 0.1.0
 * @category constructors
 */
export const watch = (needles: ReadonlyArray<string>): Effect.Effect<Watch> =>
  Effect.gen(function*() {
    const leaks: Array<string> = []
    const counts = { logs: 0, spans: 0 }
    const check = (text: string) => {
      if (needles.some((needle) => text.includes(needle))) leaks.push(text)
    }
    const layer = yield* recording(
      (line) => {
        counts.logs++
        check(line)
      },
      (span) => {
        const end = span.end.bind(span)
        span.end = (endTime, exit) => {
          end(endTime, exit)
          counts.spans++
          check(spanText(span))
        }
      }
    )
    return {
      layer,
      leaks: Effect.sync(() => [...leaks]),
      counts: Effect.sync(() => ({ ...counts }))
    }
  })
