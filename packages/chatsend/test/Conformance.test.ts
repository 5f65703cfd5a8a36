import { ChatSend, ChatSendWebhook } from "@parley/chatsend"
import * as ChatSendEmulator from "@parley/chatsend/emulator"
import * as ProviderConformance from "@parley/testing/ProviderConformance"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

const secret = "conformance-webhook-secret"

const secrets = { valid: "chatsend-test-key", invalid: "cs-refused-key-9a4b27" }

ProviderConformance.run({
  secrets,
  name: ChatSend.provider,
  emulator: ChatSendEmulator.make({ webhookSecret: secret }),
  messaging: (emulator, { credentials, messaging }) =>
    ChatSend.layer({
      ...messaging,
      baseUrl: emulator.url,
      apiKey: Redacted.make(secrets[credentials]),
      session: "default"
    }),
  webhook: () => Effect.succeed({ handler: ChatSendWebhook.make({ secret: Redacted.make(secret) }) })
})
