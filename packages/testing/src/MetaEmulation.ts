/**
 * What emulating Meta's WhatsApp Cloud API takes, for Meta's own emulator and for resellers that relay
 * it (BotPenguin): Meta error objects (`{ error: { message, type, code, error_data, fbtrace_id } }`),
 * `wamid.` message ids, the send answer, the 24-hour customer-service window (131047), and templates
 * checked against the approved ones (132000, 132001, 132012).
 *
 * @since 0.1.0
 */
import type { ChatId } from "@parley/core"
import { MetaCloud, MetaError } from "@parley/core/provider"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { randomBytes } from "node:crypto"
import * as Emulator from "./Emulator.js"
import type * as FakeNetwork from "./FakeNetwork.js"

const encodeError = Schema.encodeSync(MetaError.ErrorBody)
const encodeSend = Schema.encodeSync(MetaCloud.SendResponse)

/**
 * A Meta error, as the error body of a refusal with `status`.
 *
 * @since 0.1.0
 * @category errors
 */
export const error = (
  status: number,
  error: { readonly code: number; readonly message: string; readonly details?: string | undefined }
): Emulator.Reject =>
  new Emulator.Reject({
    status,
    body: encodeError({
      error: {
        message: error.message,
        type: error.code === 190 ? "OAuthException" : "WhatsAppBusinessApiError",
        code: error.code,
        error_data: { messaging_product: "whatsapp", details: error.details ?? error.message },
        fbtrace_id: randomBytes(12).toString("base64url")
      }
    })
  })

/**
 * The Graph API's answer to a path whose object id does not exist, or that the token may not use (a
 * wrong phone-number id): 400, code 100, subcode 33, a `GraphMethodException` without `error_data`, as
 * Meta sends it.
 *
 * @since 0.1.0
 * @category errors
 */
export const unknownObject = (id: string, method: "get" | "post"): Emulator.Reject =>
  new Emulator.Reject({
    status: 400,
    body: encodeError({
      error: {
        message:
          `Unsupported ${method} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
        type: "GraphMethodException",
        code: 100,
        error_subcode: 33,
        fbtrace_id: randomBytes(12).toString("base64url")
      }
    })
  })

/**
 * A Meta-style message id (`wamid.` and base64 bytes that start with the number).
 *
 * @since 0.1.0
 * @category ids
 */
export const wamid = (waId: string): string =>
  "wamid." + Buffer.concat([
    Buffer.from([0x1c, 0x18, waId.length]),
    Buffer.from(waId),
    Buffer.from([0x15, 0x02, 0x00, 0x11, 0x18, 0x12]),
    randomBytes(18)
  ]).toString("base64")

/**
 * The encoded send answer for a message given `id`.
 *
 * @since 0.1.0
 * @category responses
 */
export const sendResponse = (sent: { readonly id: string; readonly waId: string }): unknown =>
  encodeSend({
    messaging_product: "whatsapp",
    contacts: [{ input: sent.waId, wa_id: sent.waId }],
    messages: [{ id: sent.id, message_status: "accepted" }]
  })

const windowMillis = Duration.toMillis("24 hours")

/**
 * Whether `chat` wrote to `business` in the last 24 hours, so a free-form message may go to it.
 *
 * @since 0.1.0
 * @category window
 */
export const windowOpen = (
  network: FakeNetwork.Service,
  business: ChatId.ChatId,
  chat: ChatId.ChatId
): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const messages = yield* network.messages
    return messages.some((m) =>
      m.direction === "inbound" && m.chat.toString() === chat.toString() &&
      m.business.toString() === business.toString() && now - m.at < windowMillis
    )
  })

/**
 * Meta's refusal of a free-form message outside the window (131047).
 *
 * @since 0.1.0
 * @category window
 */
export const windowClosed = (status: number): Emulator.Reject =>
  error(status, {
    code: 131047,
    message: "Re-engagement message",
    details: "More than 24 hours have passed since the recipient last replied to the sender number."
  })

/**
 * Checks a template's components against the approved templates (name → number of body variables;
 * absent: any template is approved) and answers its body variables, or Meta's refusal: 132012 for a
 * body parameter that is not text, 132001 for an unknown template, 132000 for a wrong number of
 * variables.
 *
 * @since 0.1.0
 * @category templates
 */
export const templateVariables = (options: {
  readonly name: string
  readonly components: ReadonlyArray<MetaCloud.Component>
  readonly templates: Readonly<Record<string, number>> | undefined
  readonly status: number
}): Effect.Effect<ReadonlyArray<string>, Emulator.Reject> => {
  const parameters = options.components.filter((c) => c.type === "body").flatMap((c) => c.parameters)
  const variables = parameters.flatMap((p) => p.type === "text" ? [p.text] : [])
  if (variables.length !== parameters.length) {
    return Effect.fail(error(options.status, {
      code: 132012,
      message: "Parameter format does not match format in the created template",
      details: "body parameters must be of type text"
    }))
  }
  const expected = options.templates?.[options.name]
  if (options.templates !== undefined && expected === undefined) {
    return Effect.fail(error(options.status, {
      code: 132001,
      message: "Template name does not exist in the translation",
      details: `template ${options.name} does not exist`
    }))
  }
  if (expected !== undefined && expected !== variables.length) {
    return Effect.fail(error(options.status, {
      code: 132000,
      message: "Number of parameters does not match the expected number of params",
      details:
        `body: number of localizable_params (${variables.length}) does not match the expected number of params (${expected})`
    }))
  }
  return Effect.succeed(variables)
}
