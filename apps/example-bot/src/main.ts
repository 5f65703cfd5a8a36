/**
 * `pnpm start`: the clinic bot, its providers (local emulators unless real credentials are set), the
 * webhook server and the simulator page, on loopback. Ctrl-C stops everything and closes the database.
 * With `OTEL_EXPORTER_OTLP_ENDPOINT` set, traces, metrics and logs go to that OpenTelemetry collector.
 * The database is SQLite under `PARLEY_DATA_DIR`, or `PARLEY_DATABASE_URL` (`postgres://…` runs several
 * instances on one PostgreSQL; give each its own `PARLEY_INSTANCE_ID`), as `parley` reads it.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Database } from "@parley/cli"
import { Bot, Telemetry, WebhookServer } from "@parley/core"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HttpMiddleware from "effect/http/HttpMiddleware"
import * as HttpRouter from "effect/http/HttpRouter"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import { mkdirSync } from "node:fs"
import { resolve } from "node:path"
import * as Bookings from "./Bookings.js"
import * as Clinic from "./Clinic.js"
import * as Providers from "./Providers.js"
import * as Simulator from "./Simulator.js"

/** The app's settings (all optional). */
export const AppConfig = Config.all({
  port: Config.withDefault(Config.Port("PARLEY_PORT"), 3000),
  host: Config.withDefault(Config.String("PARLEY_HOST"), "127.0.0.1"),
  dataDir: Config.withDefault(Config.String("PARLEY_DATA_DIR"), "data"),
  reminderDelay: Config.withDefault(Config.Duration("PARLEY_REMINDER_DELAY"), Duration.minutes(2)),
  /** This instance's name in the chats it holds (several instances on one PostgreSQL). */
  instanceId: Config.option(Config.NonEmptyString("PARLEY_INSTANCE_ID"))
})

const program = Effect.gen(function*() {
  const config = yield* AppConfig
  const base = `http://${config.host}:${config.port}`
  const dataDir = resolve(config.dataDir)
  mkdirSync(dataDir, { recursive: true })

  const providers = yield* Providers.make(base)
  const target = yield* Database.target
  const stores = Layer.provideMerge(Bot.layerStore, Database.layer(target, { create: true }))
  const messaging = Providers.messaging(providers)
  const bot = Bot.layer(Clinic.make({ mediaBase: `${base}/media`, reminderDelay: config.reminderDelay }), {
    instanceId: Option.getOrUndefined(config.instanceId)
  })

  // The webhooks and the simulator on one server. Neither logs every request (the webhook routes log
  // what needs attention), and the console banner below says where it listens.
  const server = HttpRouter.serve(
    Layer.mergeAll(
      WebhookServer.app({ handlers: providers.map((p) => p.webhook) }),
      Simulator.make({ base, providers })
    ),
    { disableLogger: true, disableListenLog: true }
  ).pipe(
    Layer.provide(Layer.succeed(HttpMiddleware.TracerDisabledWhen)(WebhookServer.tracerDisabledWhen)),
    // Node's timeouts for a public endpoint (slow requests are closed with 408, and logged). A page left
    // open holds its event stream: on Ctrl-C, requests get a second to finish, not 20.
    Layer.provide(WebhookServer.layerHttpServer({
      port: config.port,
      host: config.host,
      gracefulShutdownTimeout: "1 second"
    }))
  )

  const app = Layer.mergeAll(server, bot, Telemetry.layerGauges()).pipe(
    Layer.provide(Bookings.layer),
    Layer.provide(messaging),
    Layer.provide(stores)
  )
  yield* Layer.build(app)

  yield* Console.log([
    "",
    "Parley example bot: Sunrise Clinic is running.",
    "",
    `  Simulator:  ${base}/   (open it in a browser and say "hi")`,
    `  Webhooks:   ${providers.map((p) => `${base}/webhooks/${p.webhookPath}`).join("\n              ")}`,
    `  Providers:  ${
      providers.map((p) => `${p.name} (${p.role}, ${Option.isSome(p.emulator) ? "local emulator" : "real API"})`).join(
        ", "
      )
    }`,
    `  Database:   ${target.display}`,
    "",
    "Press Ctrl-C to stop."
  ].join("\n"))
  return yield* Effect.never
})

// Startup failures a newcomer can fix get a sentence, not a stack trace.
const explain = (cause: Cause.Cause<unknown>): string | undefined => {
  const failure = Cause.findErrorOption(cause)
  const code = Option.isSome(failure) ? (failure.value as { cause?: { code?: string } }).cause?.code : undefined
  if (code === "EADDRINUSE") {
    return "The port is taken. Stop the other program, or set PARLEY_PORT to a free port (e.g. PARLEY_PORT=3001 pnpm start)."
  }
  if (Option.isSome(failure) && failure.value instanceof Config.ConfigError) {
    return `A setting is wrong: ${failure.value.cause.message}. See apps/example-bot/README.md for the settings.`
  }
  return undefined
}

program.pipe(
  Effect.provide(Layer.merge(Providers.network, NodeHttpClient.layerUndici)),
  Effect.scoped,
  // Outermost: everything runs under its tracer, and it flushes after the app has stopped.
  Effect.provide(Layer.provide(Telemetry.layerConfig(), NodeHttpClient.layerUndici)),
  Effect.tapCause((cause) => {
    const message = explain(cause)
    return message === undefined ? Effect.void : Console.error(`\n✖ ${message}\n`)
  }),
  NodeRuntime.runMain({
    disableErrorReporting: false,
    // Ctrl-C (or SIGTERM) is the way to stop the bot: once everything has closed, that exits with 0.
    teardown: (exit, onExit) =>
      Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)
  })
)
