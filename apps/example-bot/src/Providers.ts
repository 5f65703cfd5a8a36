/**
 * The bot's providers, in failover order (`PARLEY_PROVIDERS`, default `multisession,wawp,meta,callbell`):
 * the self-hosted Multisession gateway (primary) and Wawp (secondary), the same number linked to both,
 * Meta's Cloud API, then Callbell (which also carries the reminder templates), composed with `Failover`.
 * Each runs as a local emulator unless its credentials are in the environment, in which case the real
 * API is used, with no code change. Put `meta` first to make the Cloud API the primary.
 *
 * The Multisession gateway's webhooks do not carry what users write (each message arrives as
 * `UnavailableContent`), so users' messages come in through the first provider whose webhooks do;
 * replies go back through the provider a chat came in on, and fail over when it fails.
 */
import { Callbell, CallbellWebhook } from "@parley/callbell"
import * as CallbellEmulator from "@parley/callbell/emulator"
import { type Capabilities, Failover, type MessagingService, Retry, type Webhook } from "@parley/core"
import { Meta, MetaWebhook } from "@parley/meta"
import * as MetaEmulator from "@parley/meta/emulator"
import { Multisession, MultisessionWebhook } from "@parley/multisession"
import * as MultisessionEmulator from "@parley/multisession/emulator"
import { type Emulator, FakeNetwork, Faults } from "@parley/testing"
import { Wawp, WawpWebhook } from "@parley/wawp"
import * as WawpEmulator from "@parley/wawp/emulator"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import type * as Scope from "effect/Scope"
import { randomBytes } from "node:crypto"

/** How an emulated provider behaves, as the simulator's switch sets it. */
export type Mode = "ok" | "failing" | "rate-limited" | "down"
export const modes: ReadonlyArray<Mode> = ["ok", "failing", "rate-limited", "down"]

export interface Provider {
  readonly name: string
  readonly role: string
  /** What it carries; `inboundMessages` says whether users' messages can come in through it. */
  readonly capabilities: Capabilities.Capabilities
  /** The local emulator, when the provider is not configured for real. */
  readonly emulator: Option.Option<Emulator.Emulator>
  readonly layer: Layer.Layer<MessagingService.MessagingService, Config.ConfigError, HttpClient.HttpClient>
  readonly webhook: Webhook.WebhookHandler
  /** The webhook path on the bot's server (after `/webhooks/`). */
  readonly webhookPath: string
}

/** Puts an emulator in a mode: healthy, answering 5xx, answering 429, or refusing connections. */
export const setMode = (emulator: Emulator.Emulator, mode: Mode): Effect.Effect<void> =>
  Effect.gen(function*() {
    yield* emulator.faults.clear
    if (mode === "down") return yield* emulator.down
    yield* emulator.up
    if (mode === "failing") yield* emulator.faults.rate(1, Faults.serverError(503))
    if (mode === "rate-limited") yield* emulator.faults.rate(1, Faults.rateLimited(2))
  })

// Short retries so a failing provider hands over within a couple of seconds in the demo.
const retry = Retry.schedule({ base: "100 millis", maxRetries: 2, maxElapsed: "2 seconds" })

type Requirements = Scope.Scope | FakeNetwork.FakeNetwork | HttpClient.HttpClient

/** How to run one provider: for real (with its settings) or as an emulator posting to `base`. */
interface Setup {
  readonly capabilities: Capabilities.Capabilities
  /** The setting whose presence switches the provider to the real API. */
  readonly configuredBy: string
  readonly real: Effect.Effect<
    Pick<Provider, "layer" | "webhook" | "webhookPath">,
    Config.ConfigError,
    Requirements
  >
  readonly emulated: (
    base: string
  ) => Effect.Effect<
    Pick<Provider, "layer" | "webhook" | "webhookPath"> & { readonly emulator: Emulator.Emulator },
    never,
    Requirements
  >
}

const setups: Record<string, Setup> = {
  [Multisession.provider]: {
    capabilities: Multisession.capabilities,
    configuredBy: "PARLEY_MULTISESSION_TOKEN",
    real: Effect.map(MultisessionWebhook.makeConfig(), (webhook) => ({
      layer: Multisession.layerConfig(Config.map(Multisession.config, (options) => ({ ...options, retry }))),
      webhook,
      webhookPath: Multisession.provider
    })),
    emulated: (base) =>
      Effect.gen(function*() {
        const token = MultisessionEmulator.deviceToken("clinic-device")
        const emulator = yield* MultisessionEmulator.make({ token, webhookUrl: `${base}/webhooks/multisession` })
        return {
          emulator,
          layer: Multisession.layer({ baseUrl: emulator.url, token: Redacted.make(token), retry }),
          webhook: MultisessionWebhook.make({ secret: Redacted.make(emulator.webhookSecret) }),
          webhookPath: Multisession.provider
        }
      })
  },
  [Wawp.provider]: {
    capabilities: Wawp.capabilities,
    configuredBy: "PARLEY_WAWP_ACCESS_TOKEN",
    real: Effect.map(WawpWebhook.makeConfig(), (webhook) => ({
      layer: Wawp.layerConfig(Config.map(Wawp.config, (options) => ({ ...options, retry }))),
      webhook,
      webhookPath: Wawp.provider
    })),
    emulated: (base) =>
      Effect.gen(function*() {
        const secret = randomBytes(16).toString("hex")
        const emulator = yield* WawpEmulator.make({ webhookSecret: secret, webhookUrl: `${base}/webhooks/wawp` })
        return {
          emulator,
          layer: Wawp.layer({
            baseUrl: emulator.url,
            instanceId: emulator.instanceId,
            accessToken: Redacted.make(emulator.accessToken),
            retry
          }),
          webhook: WawpWebhook.make({ secret: Redacted.make(secret) }),
          webhookPath: Wawp.provider
        }
      })
  },
  [Meta.provider]: {
    capabilities: Meta.capabilities,
    configuredBy: "PARLEY_META_ACCESS_TOKEN",
    real: Effect.map(MetaWebhook.makeConfig(), (webhook) => ({
      layer: Meta.layerConfig(Config.map(Meta.config, (options) => ({ ...options, retry }))),
      webhook,
      webhookPath: Meta.provider
    })),
    emulated: (base) =>
      Effect.gen(function*() {
        const appSecret = randomBytes(16).toString("hex")
        const emulator = yield* MetaEmulator.make({ appSecret, webhookUrl: `${base}/webhooks/meta` })
        const accessToken = Redacted.make(emulator.accessToken)
        return {
          emulator,
          layer: Meta.layer({ baseUrl: emulator.url, phoneNumberId: emulator.phoneNumberId, accessToken, retry }),
          webhook: MetaWebhook.make({
            appSecret: Redacted.make(appSecret),
            verifyToken: Redacted.make(emulator.verifyToken),
            media: yield* MetaWebhook.mediaResolver({ baseUrl: emulator.url, accessToken })
          }),
          webhookPath: Meta.provider
        }
      })
  },
  [Callbell.provider]: {
    capabilities: Callbell.capabilities,
    configuredBy: "PARLEY_CALLBELL_API_KEY",
    real: Effect.map(CallbellWebhook.makeConfig(), (webhook) => ({
      layer: Callbell.layerConfig(),
      webhook,
      webhookPath: `${Callbell.provider}/<token>`
    })),
    emulated: (base) =>
      Effect.gen(function*() {
        const token = randomBytes(16).toString("hex")
        const emulator = yield* CallbellEmulator.make({ webhookUrl: `${base}/webhooks/callbell/${token}` })
        return {
          emulator,
          layer: Callbell.layer({
            baseUrl: emulator.url,
            apiKey: Redacted.make(emulator.apiKey),
            channelUuid: emulator.channelUuid,
            retry
          }),
          webhook: CallbellWebhook.make({ token: Redacted.make(token) }),
          webhookPath: `${Callbell.provider}/<token>`
        }
      })
  }
}

/**
 * `PARLEY_PROVIDERS`: the providers to use, in failover order (the first is the primary).
 */
export const ProvidersConfig: Config.Config<ReadonlyArray<string>> = Config.Array(
  Schema.Literals(Object.keys(setups)),
  "PARLEY_PROVIDERS"
).pipe(
  Config.withDefault([Multisession.provider, Wawp.provider, Meta.provider, Callbell.provider]),
  Config.mapEffect((names) =>
    names.length > 0 && new Set(names).size === names.length
      ? Effect.succeed(names)
      : Effect.fail(
        new Config.ConfigError(
          new Schema.SchemaError(
            new SchemaIssue.Pointer(
              ["PARLEY_PROVIDERS"],
              new SchemaIssue.InvalidValue({ message: "PARLEY_PROVIDERS must name at least one provider, each once" })
            )
          )
        )
      )
  )
)

const roleOf = (index: number, capabilities: Capabilities.Capabilities) =>
  index === 0
    ? "primary"
    : index === 1
    ? "secondary"
    : capabilities.kinds.has("template")
    ? "templates, fallback"
    : "fallback"

/**
 * The providers, emulated or real, posting webhooks to `base` (the bot's server).
 */
export const make = (base: string): Effect.Effect<ReadonlyArray<Provider>, Config.ConfigError, Requirements> =>
  Effect.flatMap(ProvidersConfig, (names) =>
    Effect.forEach(names, (name, index) => {
      const setup = setups[name]!
      const common = { name, capabilities: setup.capabilities, role: roleOf(index, setup.capabilities) }
      return Effect.flatMap(Config.option(Config.String(setup.configuredBy)), (configured) =>
        Option.isSome(configured)
          ? Effect.map(setup.real, (real): Provider => ({ ...common, ...real, emulator: Option.none() }))
          : Effect.map(
            setup.emulated(base),
            ({ emulator, ...emulated }): Provider => ({ ...common, ...emulated, emulator: Option.some(emulator) })
          ))
    }))

/** The failover group over the providers, in order. */
export const messaging = (providers: ReadonlyArray<Provider>) =>
  Failover.layer(
    [providers[0]!.layer, ...providers.slice(1).map((p) => p.layer)],
    { breaker: { consecutiveFailures: 3, cooldown: "15 seconds" } }
  )

/** The network the emulators share, with ticks that move like a phone's. */
export const network = FakeNetwork.layer({ autoAck: { delivered: "600 millis", read: "1200 millis" } })
