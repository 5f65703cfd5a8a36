/**
 * The Parley side of the conversation and scale benchmarks, run as its own process: the webhook server,
 * the inbox and the engine on SQLite (`BENCH_DB`: a file, or `:memory:`) or PostgreSQL (`BENCH_DB`:
 * a `postgres://` URL, with `PARLEY_INSTANCE_ID` naming this instance), replying through the ChatSend
 * layer to the loopback provider (`BENCH_PROVIDER_URL`), webhooks verified with
 * `PARLEY_CHATSEND_WEBHOOK_SECRET`. The dialog is the one BuilderBot runs in peer/builderbot/bot.mjs.
 *
 * On `SIGUSR2` it prints `statements <n>`: the SQL statements its engine's store has run so far (and, with
 * `BENCH_COUNT_OPS`, its Effect operations: see OperationCount.ts).
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { PgClient } from "@effect/sql-pg"
import { ChatSend, ChatSendWebhook } from "@parley/chatsend"
import { Bot, Metrics, WebhookServer } from "@parley/core"
import { SqliteClient } from "@effect/sql-sqlite-node"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as OperationCount from "./OperationCount.js"
import { bot } from "./QuestionsBot.js"

const main = Effect.gen(function*() {
  const port = yield* Config.integer("BENCH_PORT")
  const filename = yield* Config.string("BENCH_DB")
  const providerUrl = yield* Config.string("BENCH_PROVIDER_URL")
  const instanceId = yield* Config.option(Config.string("PARLEY_INSTANCE_ID"))
  const webhook = yield* ChatSendWebhook.makeConfig()
  const database = filename.startsWith("postgres://")
    ? PgClient.layer({ url: Redacted.make(filename) })
    : SqliteClient.layer({ filename })
  yield* Layer.build(
    Layer.mergeAll(
      WebhookServer.layer({ port, handlers: [webhook] }),
      Bot.layer(bot, { instanceId: Option.getOrUndefined(instanceId) })
    ).pipe(
      Layer.provide(
        ChatSend.layer({ baseUrl: providerUrl, apiKey: Redacted.make("bench-api-key"), session: "default" })
      ),
      Layer.provide(NodeHttpClient.layerUndici),
      Layer.provide(Layer.provideMerge(Bot.layerStore, database))
    )
  )
  // Metrics live in the global registry: read them outside the runtime, when asked.
  process.on("SIGUSR2", () => {
    const statements = Effect.runSync(Metric.value(Metrics.statements))
    console.log(`statements ${statements.count}`)
  })
  yield* Console.log("ready")
  return yield* Effect.never
})

NodeRuntime.runMain(main.pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning), OperationCount.counted))
