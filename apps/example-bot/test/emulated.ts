/**
 * Multisession, Wawp and ChatSend emulators on loopback ports, and `Failover` over clients of the three
 * (in that order), as the failover and faults suites use them.
 */
import { ChatSend } from "@parley/chatsend"
import * as ChatSendEmulator from "@parley/chatsend/emulator"
import { Failover, MessagingService, type Retry } from "@parley/core"
import { Multisession } from "@parley/multisession"
import * as MultisessionEmulator from "@parley/multisession/emulator"
import { Wawp } from "@parley/wawp"
import * as WawpEmulator from "@parley/wawp/emulator"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"

export const failoverOverEmulators = (options: {
  readonly device: string
  readonly retry: ReturnType<typeof Retry.schedule>
  readonly breaker: Failover.Options["breaker"]
}) =>
  Effect.gen(function*() {
    const token = MultisessionEmulator.deviceToken(options.device)
    const multisession = yield* MultisessionEmulator.make({ token })
    const wawp = yield* WawpEmulator.make()
    const chatsend = yield* ChatSendEmulator.make()
    const { retry } = options
    const context = yield* Layer.build(Failover.layer([
      Multisession.layer({ baseUrl: multisession.url, token: Redacted.make(token), retry }),
      Wawp.layer({
        baseUrl: wawp.url,
        instanceId: wawp.instanceId,
        accessToken: Redacted.make(wawp.accessToken),
        retry
      }),
      ChatSend.layer({
        baseUrl: chatsend.url,
        apiKey: Redacted.make(chatsend.apiKey),
        session: chatsend.session,
        retry
      })
    ], { breaker: options.breaker }))
    return {
      multisession,
      wawp,
      chatsend,
      /** The credentials the clients hold. */
      secrets: [token, wawp.accessToken, chatsend.apiKey],
      service: Context.get(context, MessagingService.MessagingService),
      failover: Context.get(context, Failover.Failover)
    }
  })
