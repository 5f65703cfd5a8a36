/**
 * The providers `parley` can send through, configured by the same `PARLEY_*` settings as the app
 * (each provider package's `config`): a provider is configured when any of its settings is set. Sends
 * go through one provider, or through all configured ones as a `Failover` group, in the order of
 * `PARLEY_PROVIDERS` (default: multisession, wawp, meta, chatsend, callbell, botpenguin).
 *
 * @since 0.1.0
 */
import { BotPenguin } from "@parley/botpenguin"
import { Callbell } from "@parley/callbell"
import { ChatSend } from "@parley/chatsend"
import { Failover, MessagingError, type MessagingService } from "@parley/core"
import { Meta, MetaApi } from "@parley/meta"
import { Multisession } from "@parley/multisession"
import { Wawp } from "@parley/wawp"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { CliError, describeConfigError, ExitCode } from "./CliError.js"

/**
 * A provider's settings, loaded.
 *
 * @since 0.1.0
 * @category models
 */
export interface Loaded {
  readonly baseUrl: string
  readonly layer: Layer.Layer<MessagingService.MessagingService, never, HttpClient.HttpClient>
  /** A request that changes nothing but needs valid credentials, where the API has one. */
  readonly probe: Option.Option<Effect.Effect<unknown, MessagingError.MessagingError, HttpClient.HttpClient>>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Setup {
  readonly name: string
  /** Its settings, the required ones first. */
  readonly settings: ReadonlyArray<string>
  /** The settings to check when the credentials are refused. */
  readonly credentials: ReadonlyArray<string>
  readonly load: Effect.Effect<Loaded, Config.ConfigError>
}

const setup = <O>(
  name: string,
  settings: ReadonlyArray<string>,
  config: Config.Config<O>,
  options: {
    readonly baseUrl: (options: O) => string
    readonly layer: (options: O) => Layer.Layer<MessagingService.MessagingService, never, HttpClient.HttpClient>
    readonly probe?: (options: O) => Effect.Effect<unknown, MessagingError.MessagingError, HttpClient.HttpClient>
    /** Default: the first setting. */
    readonly credentials?: ReadonlyArray<string>
  }
): Setup => ({
  name,
  settings,
  credentials: options.credentials ?? settings.slice(0, 1),
  load: Effect.map(config, (loaded) => ({
    baseUrl: options.baseUrl(loaded),
    layer: options.layer(loaded),
    probe: Option.map(Option.fromNullishOr(options.probe), (probe) => probe(loaded))
  }))
})

/**
 * Every provider `parley` knows, in the default failover order.
 *
 * @since 0.1.0
 * @category providers
 */
export const all: ReadonlyArray<Setup> = [
  setup(
    Multisession.provider,
    ["PARLEY_MULTISESSION_TOKEN", "PARLEY_MULTISESSION_BASE_URL", "PARLEY_MULTISESSION_SIMULATION"],
    Multisession.config,
    { baseUrl: (o) => o.baseUrl ?? "http://localhost:7001", layer: Multisession.layer }
  ),
  setup(
    Wawp.provider,
    ["PARLEY_WAWP_INSTANCE_ID", "PARLEY_WAWP_ACCESS_TOKEN", "PARLEY_WAWP_BASE_URL", "PARLEY_WAWP_REACTION_PATH"],
    Wawp.config,
    { baseUrl: (o) => o.baseUrl ?? Wawp.defaultBaseUrl, layer: Wawp.layer }
  ),
  setup(
    Meta.provider,
    [
      "PARLEY_META_ACCESS_TOKEN",
      "PARLEY_META_PHONE_NUMBER_ID",
      "PARLEY_META_BASE_URL",
      "PARLEY_META_API_VERSION",
      "PARLEY_META_UPLOAD_MEDIA",
      "PARLEY_META_TEMPLATE_LANGUAGE",
      "PARLEY_META_LIST_BUTTON"
    ],
    Meta.config,
    {
      baseUrl: (o) => o.baseUrl ?? MetaApi.defaultBaseUrl,
      layer: Meta.layer,
      // The business phone number: read with a token that may use it. An id the token may not use (or
      // that does not exist: Meta's 100 with subcode 33, which is not a 401 as a wrong token is) is
      // named as such.
      probe: (o) =>
        Effect.catchIf(
          Meta.phoneNumber(o),
          (error): error is MessagingError.InvalidMessage | MessagingError.Unauthorized =>
            error._tag === "InvalidMessage" || (error._tag === "Unauthorized" && error.status !== 401),
          (error) =>
            Effect.fail(
              new MessagingError.Unauthorized({
                provider: Meta.provider,
                reason: `phone number id ${o.phoneNumberId} is not one this access token may use (${error.reason})`
              })
            )
        ),
      credentials: ["PARLEY_META_ACCESS_TOKEN", "PARLEY_META_PHONE_NUMBER_ID"]
    }
  ),
  setup(
    ChatSend.provider,
    ["PARLEY_CHATSEND_BASE_URL", "PARLEY_CHATSEND_API_KEY", "PARLEY_CHATSEND_SESSION"],
    ChatSend.config,
    { baseUrl: (o) => o.baseUrl, layer: ChatSend.layer }
  ),
  setup(
    Callbell.provider,
    ["PARLEY_CALLBELL_API_KEY", "PARLEY_CALLBELL_BASE_URL", "PARLEY_CALLBELL_CHANNEL_UUID"],
    Callbell.config,
    {
      baseUrl: (o) => o.baseUrl ?? Callbell.defaultBaseUrl,
      layer: Callbell.layer,
      // The status of a message that does not exist: 404 with valid credentials, 401 without.
      probe: (o) => Callbell.status(o, "00000000-0000-0000-0000-000000000000")
    }
  ),
  setup(
    BotPenguin.provider,
    [
      "PARLEY_BOTPENGUIN_API_KEY",
      "PARLEY_BOTPENGUIN_BASE_URL",
      "PARLEY_BOTPENGUIN_USER_NAME",
      "PARLEY_BOTPENGUIN_TAGS"
    ],
    BotPenguin.config,
    { baseUrl: (o) => o.baseUrl ?? BotPenguin.defaultBaseUrl, layer: BotPenguin.layer }
  )
]

const isSet = (name: string) => Effect.map(Effect.orDie(Config.option(Config.String(name))), Option.isSome)

/**
 * The configured providers, in `PARLEY_PROVIDERS`' order when it is set (a name there that `parley`
 * does not know is an error), else in the default order.
 *
 * @since 0.1.0
 * @category providers
 */
export const configured: Effect.Effect<ReadonlyArray<Setup>, CliError> = Effect.gen(function*() {
  const order = yield* Effect.orDie(Config.option(Config.Array(Schema.String, "PARLEY_PROVIDERS")))
  const names = Option.getOrElse(order, () => all.map((p) => p.name)).map((n) => n.trim()).filter((n) => n !== "")
  const chosen: Array<Setup> = []
  for (const name of names) {
    const found = all.find((p) => p.name === name)
    if (found === undefined) {
      return yield* new CliError({
        problem: `PARLEY_PROVIDERS names "${name}", which parley does not know`,
        fix: `Use names from: ${all.map((p) => p.name).join(", ")}`,
        exitCode: ExitCode.usage
      })
    }
    const set = yield* Effect.forEach(found.settings, isSet)
    if (set.includes(true)) chosen.push(found)
  }
  return chosen
})

const noProvider = new CliError({
  problem: "no provider is configured",
  fix: `Set a provider's settings, e.g. ${all.map((p) => p.settings[0]).join(", ")} (\`parley doctor\` checks them)`,
  exitCode: ExitCode.usage
})

const badSettings = (name: string) => (error: Config.ConfigError) =>
  new CliError({
    problem: `${name}'s settings are wrong: ${describeConfigError(error)}`,
    fix: "Fix the setting named (`parley doctor` checks every provider)",
    exitCode: ExitCode.usage
  })

/**
 * The messaging service to send through: the provider named, or every configured one as a failover
 * group.
 *
 * @since 0.1.0
 * @category providers
 */
export const messaging = (
  provider: Option.Option<string>
): Effect.Effect<Layer.Layer<MessagingService.MessagingService, never, HttpClient.HttpClient>, CliError> =>
  Effect.gen(function*() {
    const ready = yield* configured
    const chosen = Option.match(provider, {
      onNone: () => ready,
      onSome: (name) => ready.filter((p) => p.name === name)
    })
    if (Option.isSome(provider) && chosen.length === 0) {
      return yield* new CliError({
        problem: `the provider "${provider.value}" is not configured`,
        fix: ready.length === 0
          ? noProvider.fix
          : `Configured: ${ready.map((p) => p.name).join(", ")}; or set ${
            all.find((p) => p.name === provider.value)?.settings[0] ?? "its settings"
          }`,
        exitCode: ExitCode.usage
      })
    }
    const [first, ...rest] = yield* Effect.forEach(chosen, (p) => Effect.mapError(p.load, badSettings(p.name)))
    if (first === undefined) return yield* noProvider
    return rest.length === 0 ? first.layer : Failover.layer([first.layer, ...rest.map((p) => p.layer)])
  })
