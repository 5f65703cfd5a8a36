import { Meta, MetaWebhook } from "@parley/meta"
import * as MetaEmulator from "@parley/meta/emulator"
import * as ProviderConformance from "@parley/testing/ProviderConformance"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

const secrets = { valid: "meta-conformance-token", invalid: "EAAG-refused-token-7c1d" }
const appSecret = "meta-conformance-app-secret"

ProviderConformance.run({
  secrets,
  name: Meta.provider,
  emulator: MetaEmulator.make({ accessToken: secrets.valid, appSecret }),
  messaging: (emulator, { credentials, messaging }) =>
    Meta.layer({
      ...messaging,
      baseUrl: emulator.url,
      phoneNumberId: "106540352242922",
      accessToken: Redacted.make(secrets[credentials])
    }),
  webhook: () =>
    Effect.succeed({
      handler: MetaWebhook.make({ appSecret: Redacted.make(appSecret), verifyToken: Redacted.make("unused") })
    })
})
