/**
 * Sending in a chat: through the provider the chat last wrote in through, inside the customer-service
 * window (24 h) or as the bot's template fallback, with the message recorded in the chat's session (and
 * committed with the event). The journal makes each send happen once per step; this only sends.
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Bot from "../../Bot.js"
import type * as Message from "../../Message.js"
import * as MessagingError from "../../MessagingError.js"
import type * as MessagingService from "../../MessagingService.js"
import type { Receipt } from "../../Receipt.js"
import type { Session } from "./session.js"

/** @internal */
export interface Outbound {
  /** Sends `message` in the session's chat, as the step `key`. */
  readonly send: (
    session: Session,
    message: Message.Message,
    key: string
  ) => Effect.Effect<Receipt, MessagingError.MessagingError>
}

/** @internal */
export const make = (options: {
  readonly bot: Bot.Bot<any>
  readonly messaging: MessagingService.Service
  /** The customer-service window, in millis. */
  readonly window: number
  /** The engine's clock (read directly: a `Clock.currentTimeMillis` is two effects each time). */
  readonly clock: Clock.Clock
}): Outbound => {
  const { bot, clock, messaging, window } = options
  return {
    send: (session, message, key) =>
      Effect.gen(function*() {
        const now = clock.currentTimeMillisUnsafe()
        const last = session.lastInboundAt
        let outgoing = message
        if (message._tag !== "Template" && (last === undefined || now - last > window)) {
          const template = bot.templateFallback?.(message)
          if (template === undefined) {
            return yield* new MessagingError.WindowClosed({
              provider: session.provider ?? messaging.provider,
              chat: session.chat,
              reason: last === undefined ? "the user has never written" : "the user last wrote over 24 h ago"
            })
          }
          outgoing = template
        }
        // The journal makes this send once; the key goes to the service only for providers that honour it
        // natively (a repeat after a crash between this send and the commit is then theirs to drop).
        const receipt = yield* messaging.send(outgoing, {
          idempotencyKey: messaging.capabilities.idempotencyKeys ? key : undefined,
          preferProvider: session.provider
        })
        session.recordSent(receipt)
        return receipt
      })
  }
}
