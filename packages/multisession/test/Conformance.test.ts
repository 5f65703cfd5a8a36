import { Multisession, MultisessionWebhook } from "@parley/multisession"
import * as MultisessionEmulator from "@parley/multisession/emulator"
import * as ProviderConformance from "@parley/testing/ProviderConformance"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

const token = MultisessionEmulator.deviceToken("conformance-device")
const secret = "conformance-webhook-secret"

const secrets = { valid: token, invalid: MultisessionEmulator.deviceToken("another-device") }

ProviderConformance.run({
  secrets,
  name: Multisession.provider,
  emulator: MultisessionEmulator.make({ token, webhookSecret: secret }),
  messaging: (emulator, { credentials, messaging }) =>
    Multisession.layer({
      ...messaging,
      baseUrl: emulator.url,
      token: Redacted.make(secrets[credentials])
    }),
  webhook: () => Effect.succeed({ handler: MultisessionWebhook.make({ secret: Redacted.make(secret) }) })
})
