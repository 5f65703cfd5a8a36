/**
 * The bot's providers: the self-hosted Multisession gateway (primary) and Wawp (secondary), the same
 * number linked to both, then Callbell (which also carries the reminder templates), composed with
 * `Failover`. Each runs as a local emulator unless its credentials are in the environment, in which
 * case the real API is used, with no code change.
 *
 * The Multisession gateway's webhooks do not carry what users write (each message arrives as
 * `UnavailableContent`), so users' messages come in through Wawp; replies go back through the provider
 * a chat came in on, and fail over to the gateway when Wawp fails.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { Callbell, CallbellWebhook } from "@parley/callbell"
import * as CallbellEmulator from "@parley/callbell/emulator"
import { type Capabilities, Failover, type MessagingService, Retry, type Webhook } from "@parley/core"
import { Multisession, MultisessionWebhook } from "@parley/multisession"
import * as MultisessionEmulator from "@parley/multisession/emulator"
import { type Emulator, FakeNetwork, Faults } from "@parley/testing"
import { Wawp, WawpWebhook } from "@parley/wawp"
import * as WawpEmulator from "@parley/wawp/emulator"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
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
  readonly layer: Layer.Layer<MessagingService.MessagingService, ConfigError.ConfigError, HttpClient.HttpClient>
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

const configured = (name: string) => Effect.map(Config.option(Config.string(name)), Option.isSome)

/**
 * The providers, emulated or real, posting webhooks to `base` (the bot's server).
 */
export const make = (
  base: string
): Effect.Effect<
  ReadonlyArray<Provider>,
  ConfigError.ConfigError,
  Scope.Scope | FakeNetwork.FakeNetwork | HttpClient.HttpClient
> =>
  Effect.gen(function*() {
    const multisession: Provider = (yield* configured("PARLEY_MULTISESSION_TOKEN"))
      ? {
        name: Multisession.provider,
        role: "primary",
        capabilities: Multisession.capabilities,
        emulator: Option.none(),
        layer: Multisession.layerConfig(Config.map(Multisession.config, (options) => ({ ...options, retry }))),
        webhook: yield* MultisessionWebhook.makeConfig(),
        webhookPath: Multisession.provider
      }
      : yield* Effect.gen(function*() {
        const token = MultisessionEmulator.deviceToken("clinic-device")
        const emulator = yield* MultisessionEmulator.make({ token, webhookUrl: `${base}/webhooks/multisession` })
        return {
          name: Multisession.provider,
          role: "primary",
          capabilities: Multisession.capabilities,
          emulator: Option.some(emulator),
          layer: Multisession.layer({ baseUrl: emulator.url, token: Redacted.make(token), retry }),
          webhook: MultisessionWebhook.make({ secret: Redacted.make(emulator.webhookSecret) }),
          webhookPath: Multisession.provider
        }
      })

    const wawp: Provider = (yield* configured("PARLEY_WAWP_ACCESS_TOKEN"))
      ? {
        name: Wawp.provider,
        capabilities: Wawp.capabilities,
        role: "secondary",
        emulator: Option.none(),
        layer: Wawp.layerConfig(Config.map(Wawp.config, (options) => ({ ...options, retry }))),
        webhook: yield* WawpWebhook.makeConfig(),
        webhookPath: Wawp.provider
      }
      : yield* Effect.gen(function*() {
        const secret = randomBytes(16).toString("hex")
        const emulator = yield* WawpEmulator.make({ webhookSecret: secret, webhookUrl: `${base}/webhooks/wawp` })
        return {
          name: Wawp.provider,
          capabilities: Wawp.capabilities,
          role: "secondary",
          emulator: Option.some(emulator),
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

    const callbell: Provider = (yield* configured("PARLEY_CALLBELL_API_KEY"))
      ? {
        name: Callbell.provider,
        capabilities: Callbell.capabilities,
        role: "templates, last resort",
        emulator: Option.none(),
        layer: Callbell.layerConfig(),
        webhook: yield* CallbellWebhook.makeConfig(),
        webhookPath: Callbell.provider
      }
      : yield* Effect.gen(function*() {
        const token = randomBytes(16).toString("hex")
        const emulator = yield* CallbellEmulator.make({ webhookUrl: `${base}/webhooks/callbell/${token}` })
        return {
          name: Callbell.provider,
          capabilities: Callbell.capabilities,
          role: "templates, last resort",
          emulator: Option.some(emulator),
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

    return [multisession, wawp, callbell]
  })

/** The failover group over the providers, in order. */
export const messaging = (providers: ReadonlyArray<Provider>) =>
  Failover.layer(
    [providers[0]!.layer, ...providers.slice(1).map((p) => p.layer)],
    { breaker: { consecutiveFailures: 3, cooldown: "15 seconds" } }
  )

/** The network the emulators share, with ticks that move like a phone's. */
export const network = FakeNetwork.layer({ autoAck: { delivered: "600 millis", read: "1200 millis" } })
