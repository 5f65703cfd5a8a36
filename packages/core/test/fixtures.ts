import type { MessagingError, MessagingService } from "@parley/core"
import { Capabilities, Message } from "@parley/core"
import * as Effect from "effect/Effect"

/**
 * A driver whose answers are scripted per call: each entry is an error to fail with, or "ok".
 * Past the script it answers "ok". It records every call it receives.
 */
export const scriptedDriver = (
  provider: string,
  script: Array<MessagingError.MessagingError | "ok"> = [],
  capabilities: Capabilities.Capabilities = Capabilities.make({ kinds: Message.kinds, replies: Message.kinds })
) => {
  const calls: Array<
    { readonly message: Message.Message; readonly attempt: number; readonly key: string | undefined }
  > = []
  let n = 0
  const driver: MessagingService.Driver = {
    provider,
    capabilities,
    send: (message, context) =>
      Effect.suspend(() => {
        calls.push({
          message,
          attempt: context.attempt,
          key: context.idempotencyKey._tag === "Some" ? context.idempotencyKey.value : undefined
        })
        const next = script.shift() ?? "ok"
        n++
        return next === "ok"
          ? Effect.succeed({ messageId: `${provider}-${n}`, status: "sent" as const })
          : Effect.fail(next)
      })
  }
  return { driver, calls }
}
