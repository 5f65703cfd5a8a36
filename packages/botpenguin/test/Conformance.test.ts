import { BotPenguin } from "@parley/botpenguin"
import * as BotPenguinEmulator from "@parley/botpenguin/emulator"
import * as ProviderConformance from "@parley/testing/ProviderConformance"
import * as Redacted from "effect/Redacted"

// BotPenguin documents no webhooks, so the suite's webhook test does not apply (no `webhook`).
const secrets = { valid: "botpenguin-test-key", invalid: "bp-refused-key-7c1e93" }

ProviderConformance.run({
  secrets,
  name: BotPenguin.provider,
  emulator: BotPenguinEmulator.make(),
  messaging: (emulator, { credentials, messaging }) =>
    BotPenguin.layer({
      ...messaging,
      baseUrl: emulator.url,
      apiKey: Redacted.make(secrets[credentials])
    })
})
