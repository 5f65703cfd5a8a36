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
import { ChatId } from "@parley/core"
import { Emulator, FakeNetwork, MetaEmulation } from "@parley/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import type * as Schema from "effect/Schema"
import * as Api from "./BotPenguinApi.js"

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
export const BotPenguinEmulator = Context.Service<BotPenguinEmulator>("@parley/botpenguin/BotPenguinEmulator")

/**
 * Starts the emulator on a free loopback port for the life of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Emulator.Constructor<Options, BotPenguinEmulator> = (options = {}) =>
  Effect.gen(function*() {
    const network = yield* FakeNetwork.FakeNetwork
    const { provider } = Api
    const apiKey = options.apiKey ?? "botpenguin-test-key"
    const business = options.business ?? FakeNetwork.defaultBusiness
    const errorStatus = options.errorStatus ?? 400
    const responseBody = options.responseBody ?? MetaEmulation.sendResponse

    // Either place is accepted; every key presented must be the right one.
    const authorize = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      const given = [new URL(request.url, "http://localhost").searchParams.get("apiKey"), request.headers.apikey]
        .filter((k): k is string => k !== null && k !== undefined && k.length > 0)
      if (given.length === 0) {
        return MetaEmulation.error(401, {
          code: 190,
          message: "API key is missing: pass it as ?apiKey= or the apiKey header"
        })
      }
      return given.every((k) => k === apiKey)
        ? Effect.void
        : MetaEmulation.error(401, { code: 190, message: "Invalid API key" })
    })

    const invalidParameter = (details: string) =>
      MetaEmulation.error(400, { code: 100, message: "(#100) Invalid parameter", details }).body

    const route = <A, I>(
      schema: Schema.Codec<A, I>,
      handler: (body: A) => Effect.Effect<HttpServerResponse.HttpServerResponse, Emulator.Reject>
    ) =>
      Emulator.handle(
        authorize.pipe(Effect.andThen(Emulator.decodeJson(schema, invalidParameter)), Effect.flatMap(handler))
      )

    // Records an accepted message on the network and answers with the success body.
    const deliver = (input: {
      readonly waId: string
      readonly content: FakeNetwork.Content
      readonly freeForm: boolean
    }) =>
      Effect.gen(function*() {
        const chat = ChatId.phone(input.waId)
        if (options.enforceWindow && input.freeForm && !(yield* MetaEmulation.windowOpen(network, business, chat))) {
          return yield* MetaEmulation.windowClosed(errorStatus)
        }
        const message = yield* network.deliver({
          id: MetaEmulation.wamid(input.waId),
          provider,
          business,
          chat,
          content: input.content
        }).pipe(
          Effect.catchTag("RecipientNotOnWhatsApp", () =>
            MetaEmulation.error(errorStatus, {
              code: 131026,
              message: "Message undeliverable",
              details: `${input.waId} is not a WhatsApp user`
            }))
        )
        return HttpServerResponse.jsonUnsafe(responseBody({ id: message.id, waId: input.waId }))
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
      Effect.flatMap(
        MetaEmulation.templateVariables({
          name: body.templateId,
          components: body.params,
          templates: options.templates,
          status: errorStatus
        }),
        (variables) =>
          deliver({
            waId: body.wa_id,
            freeForm: false,
            content: { kind: "template", name: body.templateId, variables }
          })
      )

    const app = yield* Emulator.router([
      HttpRouter.route("POST", Api.sendMessagePath, route(Api.SendMessageRequest, sendMessage)),
      HttpRouter.route("POST", Api.sendTemplatePath, route(Api.SendTemplateRequest, sendTemplate))
    ])

    // BotPenguin documents no webhooks: there is nothing to post.
    const base = yield* Emulator.make({ provider, business, app, port: options.port })
    return { ...base, apiKey } satisfies BotPenguinEmulator
  })

/**
 * The emulator as a layer, for tests and the example app: `layer(options)`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = Emulator.layer(BotPenguinEmulator, make)
