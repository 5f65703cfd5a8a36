import { Callbell, CallbellWebhook } from "@parley/callbell"
import * as CallbellEmulator from "@parley/callbell/emulator"
import * as ProviderConformance from "@parley/testing/ProviderConformance"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

const token = "conformance-path-token"

ProviderConformance.run({
  name: Callbell.provider,
  emulator: CallbellEmulator.make(),
  messaging: (emulator, { credentials, messaging }) =>
    Callbell.layer({
      ...messaging,
      baseUrl: emulator.url,
      apiKey: Redacted.make(credentials === "valid" ? "callbell-test-key" : "not-the-key")
    }),
  webhook: () =>
    Effect.succeed({ handler: CallbellWebhook.make({ token: Redacted.make(token) }), pathSuffix: `/${token}` })
})
