/**
 * The Parley side of the conversation and scale benchmarks, run as its own process: the webhook server,
 * the inbox and the engine on SQLite (`BENCH_DB`: a file, or `:memory:`; `@effect/sql-sqlite-node`) or
 * PostgreSQL (`BENCH_DB`: a `postgres://` URL, with `PARLEY_INSTANCE_ID` naming this instance;
 * `@effect/sql-pg`), in either webhook shape (`BENCH_SHAPE`), each on its provider package as an app
 * would configure it:
 * - `waha` (default): `@parley/chatsend`, webhooks verified with `PARLEY_CHATSEND_WEBHOOK_SECRET`
 *   (`ChatSendWebhook.makeConfig`), replies through `ChatSend.layer` to `BENCH_PROVIDER_URL`;
 * - `meta`: `@parley/meta`, webhooks verified with `PARLEY_META_APP_SECRET` (and Meta's GET verification
 *   with `PARLEY_META_VERIFY_TOKEN`: `MetaWebhook.makeConfig`), replies through `Meta.layerConfig`
 *   (`PARLEY_META_PHONE_NUMBER_ID`, `PARLEY_META_ACCESS_TOKEN`, `PARLEY_META_BASE_URL`: the loopback
 *   provider).
 * The dialog is the one BuilderBot runs in peer/builderbot/bot.mjs (QuestionsBot.ts).
 *
 * On `SIGUSR2` it prints `statements <n>`: the SQL statements its engine's store has run so far (and, with
 * `BENCH_COUNT_OPS`, its Effect run-loop steps: see OperationCount.ts).
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { ChatSend, ChatSendWebhook } from "@parley/chatsend"
import { Bot, Metrics, WebhookServer } from "@parley/core"
import { Meta, MetaWebhook } from "@parley/meta"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as References from "effect/References"
import * as OperationCount from "./OperationCount.js"
import { bot } from "./QuestionsBot.js"

const main = Effect.gen(function*() {
  const port = yield* Config.Int("BENCH_PORT")
  const filename = yield* Config.String("BENCH_DB")
  const shape = yield* Config.withDefault(Config.Literals(["waha", "meta"], "BENCH_SHAPE"), "waha")
  const instanceId = yield* Config.option(Config.String("PARLEY_INSTANCE_ID"))
  const database = filename.startsWith("postgres://")
    ? PgClient.layer({ url: Redacted.make(filename) })
    : SqliteClient.layer({ filename })
  const provider = shape === "waha"
    ? {
      webhook: yield* ChatSendWebhook.makeConfig(),
      messaging: ChatSend.layer({
        baseUrl: yield* Config.String("BENCH_PROVIDER_URL"),
        apiKey: Redacted.make("bench-api-key"),
        session: "default"
      })
    }
    : { webhook: yield* MetaWebhook.makeConfig(), messaging: Meta.layerConfig() }
  yield* Layer.build(
    Layer.mergeAll(
      WebhookServer.layer({ port, handlers: [provider.webhook] }),
      Bot.layer(bot, { instanceId: Option.getOrUndefined(instanceId) })
    ).pipe(
      Layer.provide(provider.messaging),
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

NodeRuntime.runMain(
  main.pipe(
    Effect.provide(NodeHttpClient.layerUndici),
    Effect.scoped,
    Effect.provideService(References.MinimumLogLevel, "Warn"),
    OperationCount.counted
  )
)
