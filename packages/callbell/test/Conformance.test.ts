import { Callbell, CallbellWebhook } from "@parley/callbell"
import * as CallbellEmulator from "@parley/callbell/emulator"
import * as ProviderConformance from "@parley/testing/ProviderConformance"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

const token = "conformance-path-token"

const secrets = { valid: "callbell-test-key", invalid: "cb-refused-key-2d8f41" }

ProviderConformance.run({
  secrets,
  name: Callbell.provider,
  emulator: CallbellEmulator.make(),
  messaging: (emulator, { credentials, messaging }) =>
    Callbell.layer({
      ...messaging,
      baseUrl: emulator.url,
      apiKey: Redacted.make(secrets[credentials])
    }),
  webhook: () =>
    Effect.succeed({ handler: CallbellWebhook.make({ token: Redacted.make(token) }), pathSuffix: `/${token}` })
})
