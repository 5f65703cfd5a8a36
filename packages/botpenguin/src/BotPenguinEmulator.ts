/**
 * A local BotPenguin server on the fake WhatsApp network: the key from the `apiKey` query parameter or
 * header, send-message and send-template with the documented fields validated by the `BotPenguinApi`
 * schemas (digits-only `wa_id`, `text`/`image`/`document`, WhatsApp's text and caption limits, http(s)
 * media), Meta error objects for every failure, and fault injection. It posts no webhooks: BotPenguin
 * documents none.
 *
 * What the docs leave open is a guess here, and configurable: the success body (Meta's
 * `{ messaging_product, contacts, messages: [{ id: "wamid.…" }] }` by default), the status of Meta
 * errors about a message (400, as Meta answers), the templates that exist, and whether free-form sends
 * outside the 24 h window fail synchronously (Meta 131047).
 *
 * @since 0.1.0
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { ChatId } from "@parley/core"
import { Emulator, FakeNetwork, Faults } from "@parley/testing"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { randomBytes } from "node:crypto"
import * as Api from "./BotPenguinApi.js"
import { provider } from "./BotPenguinMessaging.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The key clients must present (default `botpenguin-test-key`). */
  readonly apiKey?: string | undefined
  /** The number it sends as (default `FakeNetwork.defaultBusiness`). */
  readonly business?: ChatId.ChatId | undefined
  /** The HTTP status of Meta errors about a message: 131026, 131047, 132xxx, 100 (default 400). */
  readonly errorStatus?: number | undefined
  /**
   * The templates that exist, by `templateId`, with their number of body variables. Absent: any id is
   * accepted with any number of variables.
   */
  readonly templates?: Readonly<Record<string, number>> | undefined
  /** Refuse free-form sends to chats that have not written in the last 24 h (Meta 131047; default false). */
  readonly enforceWindow?: boolean | undefined
  /** The success body for a message given `id` (default: Meta's send answer). */
  readonly responseBody?: ((sent: { readonly id: string; readonly waId: string }) => unknown) | undefined
  readonly port?: number | undefined
}

/**
 * A running emulator.
 *
 * @since 0.1.0
 * @category models
 */
export interface BotPenguinEmulator extends Emulator.Emulator {
  readonly apiKey: string
}

/**
 * @since 0.1.0
 * @category tags
 */
export const BotPenguinEmulator = Context.GenericTag<BotPenguinEmulator>("@parley/botpenguin/BotPenguinEmulator")

const encodeError = Schema.encodeSync(Api.ErrorResponse)
const encodeResponse = Schema.encodeSync(Api.MetaSendResponse)

/**
 * A Meta error object as BotPenguin relays it.
 *
 * @since 0.1.0
 * @category errors
 */
export const metaError = (
  status: number,
  error: { readonly code: number; readonly message: string; readonly details?: string | undefined }
) =>
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

const windowMillis = Duration.toMillis("24 hours")

/**
 * Starts the emulator on a free loopback port for the life of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<BotPenguinEmulator, never, Scope.Scope | FakeNetwork.FakeNetwork> =>
  Effect.gen(function*() {
    const network = yield* FakeNetwork.FakeNetwork
    const faults = yield* Faults.make
    const apiKey = options.apiKey ?? "botpenguin-test-key"
    const business = options.business ?? FakeNetwork.defaultBusiness
    const errorStatus = options.errorStatus ?? 400
    const responseBody = options.responseBody ?? ((sent) =>
      encodeResponse({
        messaging_product: "whatsapp",
        contacts: [{ input: sent.waId, wa_id: sent.waId }],
        messages: [{ id: sent.id, message_status: "accepted" }]
      }))

    // Either place is accepted; every key presented must be the right one.
    const authorize = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      const given = [new URL(request.url, "http://localhost").searchParams.get("apiKey"), request.headers.apikey]
        .filter((k): k is string => k !== null && k !== undefined && k.length > 0)
      if (given.length === 0) {
        return metaError(401, { code: 190, message: "API key is missing: pass it as ?apiKey= or the apiKey header" })
      }
      return given.every((k) => k === apiKey) ? Effect.void : metaError(401, { code: 190, message: "Invalid API key" })
    })

    const invalidParameter = (details: string) =>
      metaError(400, { code: 100, message: "(#100) Invalid parameter", details }).body

    const route = <A, I>(
      schema: Schema.Schema<A, I>,
      handler: (body: A) => Effect.Effect<HttpServerResponse.HttpServerResponse, Emulator.Reject>
    ) =>
      Emulator.handle(
        authorize.pipe(Effect.zipRight(Emulator.decodeJson(schema, invalidParameter)), Effect.flatMap(handler))
      )

    const windowOpen = (chat: ChatId.ChatId) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const messages = yield* network.messages
        return messages.some((m) =>
          m.direction === "inbound" && m.chat.toString() === chat.toString() &&
          m.business.toString() === business.toString() && now - m.at < windowMillis
        )
      })

    // Records an accepted message on the network and answers with the success body.
    const deliver = (input: {
      readonly waId: string
      readonly content: FakeNetwork.Content
      readonly freeForm: boolean
    }) =>
      Effect.gen(function*() {
        const chat = ChatId.phone(input.waId)
        if (options.enforceWindow && input.freeForm && !(yield* windowOpen(chat))) {
          return yield* metaError(errorStatus, {
            code: 131047,
            message: "Re-engagement message",
            details: "More than 24 hours have passed since the recipient last replied to the sender number."
          })
        }
        const message = yield* network.deliver({
          id: wamid(input.waId),
          provider,
          business,
          chat,
          content: input.content
        })
          .pipe(
            Effect.catchTag("RecipientNotOnWhatsApp", () =>
              metaError(errorStatus, {
                code: 131026,
                message: "Message undeliverable",
                details: `${input.waId} is not a WhatsApp user`
              }))
          )
        return HttpServerResponse.unsafeJson(responseBody({ id: message.id, waId: input.waId }))
      })

    const sendMessage = (body: Api.SendMessageRequest) => {
      const { label, source, text } = body.message
      return deliver({
        waId: body.wa_id,
        freeForm: true,
        content: body.type === "text"
          ? { kind: "text", text: text ?? "" }
          : { kind: body.type, url: source, ...(label === undefined ? {} : { caption: label }) }
      })
    }

    const sendTemplate = (body: Api.SendTemplateRequest) =>
      Effect.gen(function*() {
        const parameters = body.params.filter((c) => c.type === "body").flatMap((c) => c.parameters)
        const variables = parameters.flatMap((p) => p.type === "text" ? [p.text] : [])
        if (variables.length !== parameters.length) {
          return yield* metaError(errorStatus, {
            code: 132012,
            message: "Parameter format does not match format in the created template",
            details: "body parameters must be of type text"
          })
        }
        const expected = options.templates?.[body.templateId]
        if (options.templates !== undefined && expected === undefined) {
          return yield* metaError(errorStatus, {
            code: 132001,
            message: "Template name does not exist in the translation",
            details: `template ${body.templateId} does not exist`
          })
        }
        if (expected !== undefined && expected !== variables.length) {
          return yield* metaError(errorStatus, {
            code: 132000,
            message: "Number of parameters does not match the expected number of params",
            details:
              `body: number of localizable_params (${variables.length}) does not match the expected number of params (${expected})`
          })
        }
        return yield* deliver({
          waId: body.wa_id,
          freeForm: false,
          content: { kind: "template", name: body.templateId, variables }
        })
      })

    const router = HttpRouter.empty.pipe(
      HttpRouter.post(Api.sendMessagePath, route(Api.SendMessageRequest, sendMessage)),
      HttpRouter.post(Api.sendTemplatePath, route(Api.SendTemplateRequest, sendTemplate))
    )

    const server = yield* Emulator.serve({ app: router, faults, port: options.port })

    return {
      provider,
      url: server.url,
      business,
      faults,
      requests: server.requests,
      down: server.down,
      up: server.up,
      // BotPenguin documents no webhooks: there is nothing to post.
      setWebhookUrl: () => Effect.void,
      apiKey
    } satisfies BotPenguinEmulator
  })

/**
 * The emulator as a layer, for tests and the example app.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<BotPenguinEmulator, never, FakeNetwork.FakeNetwork> => Layer.scoped(BotPenguinEmulator, make(options))
