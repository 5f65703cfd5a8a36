/**
 * `parley doctor [--json]`: each provider's settings present and well formed, its credentials accepted
 * by a request that changes nothing where its API has one, and the database reachable and migrated.
 * Each problem comes with its fix; any problem exits 1.
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { ConversationStore, Inbox } from "@parley/core"
import * as Command from "effect/cli/Command"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as SqlClient from "effect/sql/SqlClient"
import { CliError, describeConfigError, ExitCode } from "./CliError.js"
import * as Database from "./Database.js"
import * as Output from "./Output.js"
import * as Providers from "./Providers.js"
import * as Store from "./Store.js"

/**
 * One thing checked.
 *
 * @since 0.1.0
 * @category models
 */
export interface Check {
  readonly subject: string
  readonly status: "ok" | "problem" | "skipped"
  readonly detail: string
  readonly fix?: string | undefined
}

const ok = (subject: string, detail: string): Check => ({ subject, status: "ok", detail })
const problem = (subject: string, detail: string, fix: string): Check => ({ subject, status: "problem", detail, fix })
const skipped = (subject: string, detail: string): Check => ({ subject, status: "skipped", detail })

const isHttpUrl = (text: string) => {
  try {
    return ["http:", "https:"].includes(new URL(text).protocol)
  } catch {
    return false
  }
}

const checkProvider = (provider: Providers.Setup) =>
  Effect.gen(function*() {
    const subject = `provider ${provider.name}`
    const loaded = yield* Effect.result(provider.load)
    if (Result.isFailure(loaded)) {
      return [
        problem(
          subject,
          `settings: ${describeConfigError(loaded.failure)}`,
          `Set or correct the setting named (${provider.name} reads ${provider.settings.join(", ")})`
        )
      ]
    }
    const { baseUrl, probe } = loaded.success
    const urlSetting = provider.settings.find((s) => s.endsWith("_BASE_URL"))
    if (!isHttpUrl(baseUrl)) {
      return [
        problem(
          subject,
          `base URL "${baseUrl}" is not an http(s) URL`,
          `Set ${urlSetting} to the API's URL, e.g. https://…`
        )
      ]
    }
    const settings = ok(subject, `settings present and well formed (${baseUrl})`)
    if (Option.isNone(probe)) {
      return [settings, skipped(subject, "credentials not checked: the API has no request that changes nothing")]
    }
    const answered = yield* Effect.result(Effect.timeout(probe.value, "15 seconds"))
    if (Result.isSuccess(answered)) return [settings, ok(subject, "credentials accepted")]
    const error = answered.failure
    switch (error._tag) {
      case "Unauthorized":
        return [
          settings,
          problem(subject, `credentials rejected: ${error.message}`, `Check ${provider.credentials.join(" and ")}`)
        ]
      case "ProviderUnavailable":
      case "DeliveryUnknown":
      case "TimeoutError":
        return [settings, problem(subject, `unreachable: ${error.message}`, `Check ${urlSetting} and the network`)]
      default:
        // Any other answer (the probe's message does not exist) came from a provider that took the credentials.
        return [settings, ok(subject, "credentials accepted")]
    }
  })

const checkDatabase = Effect.gen(function*() {
  const database = yield* Database.fromConfig
  const subject = `database ${database.display}`
  const reached = yield* Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [latest] = yield* sql`SELECT name FROM parley_migrations ORDER BY migration_id DESC LIMIT 1`.pipe(
      Effect.catch(() => Effect.succeed([]))
    )
    if (latest === undefined) return problem(subject, "reachable, not migrated", "Run `parley migrate`")
    // The reads parley and the engine rely on: they fail on tables from an older migration.
    const inbox = yield* Inbox.Inbox
    const store = yield* ConversationStore.ConversationStore
    const read = yield* Effect.result(
      Effect.all([inbox.pendingCount, store.openDialogs, store.nextTimer, inbox.deadLetters])
    )
    if (Result.isFailure(read)) {
      return problem(
        subject,
        `reachable, tables out of date: ${Database.describe(read.failure)}`,
        "Run `parley migrate`"
      )
    }
    const [pending, dialogs, , dead] = read.success
    return ok(
      subject,
      `reachable, migrated (${
        String(latest.name)
      }): ${pending} events pending, ${dialogs} dialogs open, ${dead.length} dead letters`
    )
  }).pipe(
    Effect.provide(Store.layer(database)),
    Effect.scoped,
    Effect.catch((error) => Effect.succeed(problem(subject, error.problem, error.fix)))
  )
  return [reached]
})

/**
 * Runs every check.
 *
 * @since 0.1.0
 * @category checks
 */
export const checks: Effect.Effect<ReadonlyArray<Check>, CliError> = Effect.gen(function*() {
  const configured = yield* Providers.configured
  const providers = configured.length === 0
    ? [problem(
      "providers",
      "no provider is configured",
      `Set a provider's settings, e.g. ${Providers.all.map((p) => p.settings[0]).join(", ")}`
    )]
    : (yield* Effect.forEach(configured, checkProvider, { concurrency: "unbounded" })).flat()
  const others = Providers.all.filter((p) => !configured.includes(p)).map((p) =>
    skipped(`provider ${p.name}`, `not configured (${p.settings[0]} unset)`)
  )
  return [...providers, ...others, ...yield* checkDatabase]
}).pipe(Effect.provide(NodeHttpClient.layerUndici))

const mark = { ok: "✔", problem: "✖", skipped: "-" } as const

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("doctor", { json: Output.json }, ({ json }) =>
  Effect.gen(function*() {
    const found = yield* checks
    yield* Output.print(json, found, () =>
      found.map((c) =>
        `${mark[c.status]} ${c.subject}: ${c.detail}${c.fix === undefined ? "" : `. Fix: ${c.fix}`}`
      ))
    const problems = found.filter((c) => c.status === "problem").length
    if (problems > 0) {
      return yield* new CliError({
        problem: `${problems} problem${problems === 1 ? "" : "s"} found`,
        fix: "Apply the fixes above and run `parley doctor` again",
        exitCode: ExitCode.failed
      })
    }
  })).pipe(
    Command.withDescription(
      "Check each provider's settings and credentials, and that the database is reachable and migrated"
    )
  )
