import * as ProviderConformance from "@parley/testing/ProviderConformance"
import { Wawp, WawpWebhook } from "@parley/wawp"
import * as WawpEmulator from "@parley/wawp/emulator"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

const secret = "conformance-webhook-secret"

const secrets = { valid: "wawp-test-token", invalid: "wawp-refused-token-3e6c18" }

ProviderConformance.run({
  secrets,
  name: Wawp.provider,
  emulator: WawpEmulator.make({ webhookSecret: secret }),
  messaging: (emulator, { credentials, messaging }) =>
    Wawp.layer({
      ...messaging,
      baseUrl: emulator.url,
      instanceId: "A1B2C3D4E5F6",
      accessToken: Redacted.make(secrets[credentials])
    }),
  webhook: () => Effect.succeed({ handler: WawpWebhook.make({ secret: Redacted.make(secret) }) })
})
