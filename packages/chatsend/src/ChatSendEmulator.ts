/**
 * A local ChatSend server on the fake WhatsApp network: Bearer auth, the send endpoints with their
 * documented limits (text ≤ 4096 characters, media ≤ 16 MB), `MessageResponse` bodies, JSON errors
 * with `message`, fault injection, and WAHA-style webhooks for user messages and acks.
 *
 * What the docs leave open is a guess here, and configurable: error statuses for an unknown session
 * (404) or a number not on WhatsApp (422), and the webhook signature (HMAC-SHA512 in
 * `X-Webhook-Hmac`, as WAHA signs).
 *
 * @since 0.1.0
 */
import { ChatId, Message } from "@parley/core"
import type { Waha } from "@parley/core/provider"
import { Emulator, FakeNetwork, WahaEmulation } from "@parley/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Api from "./ChatSendApi.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The key clients must present (default `chatsend-test-key`). */
  readonly apiKey?: string | undefined
  /** The one session this server has (default `default`). */
  readonly session?: string | undefined
  /** The number the session is linked to (default `FakeNetwork.defaultBusiness`). */
  readonly business?: ChatId.ChatId | undefined
  readonly webhookUrl?: string | undefined
  /** Sign webhooks with HMAC-SHA512 (hex) in `X-Webhook-Hmac` when set. */
  readonly webhookSecret?: string | undefined
  /** The WAHA engine whose webhook shapes to post (default NOWEB; see `WahaEmulation.payloadOf`). */
  readonly engine?: Waha.Engine | undefined
  readonly port?: number | undefined
}

/**
 * A running emulator.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChatSendEmulator extends Emulator.Emulator {
  readonly apiKey: string
  readonly session: string
}

/**
 * @since 0.1.0
 * @category tags
 */
export const ChatSendEmulator = Context.Service<ChatSendEmulator>("@parley/chatsend/ChatSendEmulator")

const error = (status: number, message: string) => new Emulator.Reject({ status, body: { message } })

const decodeBase64Length = (data: string) => Math.floor((data.replace(/=+$/, "").length * 3) / 4)

/**
 * Starts the emulator on a free loopback port for the life of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Emulator.Constructor<Options, ChatSendEmulator> = (options = {}) =>
  Effect.gen(function*() {
    const network = yield* FakeNetwork.FakeNetwork
    const apiKey = options.apiKey ?? "chatsend-test-key"
    const session = options.session ?? "default"
    const business = options.business ?? FakeNetwork.defaultBusiness
    const { provider } = Api

    const route = {
      guard: Emulator.checkBearer(apiKey, {
        missing: () => error(401, "Missing API key"),
        invalid: () => error(401, "Invalid API key")
      }),
      invalid: (message: string) => ({ message })
    }

    const recipient = (to: string) =>
      Result.match(ChatId.parse(to), {
        onFailure: (e) => Effect.fail(error(400, `to: ${e.reason}`)),
        onSuccess: Effect.succeed
      })

    const checkUrl = (url: string | undefined, data: string | undefined, field: string) => {
      if (url === undefined && data === undefined) return Effect.fail(error(400, `${field} or data is required`))
      if (data !== undefined && decodeBase64Length(data) > Message.limits.mediaBytes) {
        return Effect.fail(error(413, "media exceeds 16 MB"))
      }
      if (url !== undefined && !/^https?:\/\//.test(url)) {
        return Effect.fail(error(400, `${field} must be an http(s) URL`))
      }
      return Effect.void
    }

    const checkText = (text: string | undefined, field: string, limit: number) =>
      text !== undefined && text.length > limit
        ? Effect.fail(error(400, `${field} exceeds ${limit} characters`))
        : Effect.void

    // Carries out a send: records the message on the network and answers with a MessageResponse.
    const deliver = (input: {
      readonly session: string
      readonly to: string
      readonly content: FakeNetwork.Content
      readonly type: string
      readonly replyTo?: string | undefined
    }) =>
      Effect.gen(function*() {
        if (input.session !== session) return yield* error(404, `Session "${input.session}" not found`)
        const chat = yield* recipient(input.to)
        const { content, replyTo } = input
        const id = WahaEmulation.messageId(chat)
        const message = yield* Effect.mapError(
          network.deliver({ id, provider, business, chat, content, replyTo }),
          (e) => error(422, e.message)
        )
        return {
          id: message.id,
          to: chat.toString(),
          content: input.content,
          type: input.type,
          timestamp: new Date(message.at).toISOString(),
          status: "sent",
          fromMe: true,
          sender: business.toString(),
          recipient: chat.toString()
        } satisfies typeof Api.MessageResponse.Type
      })

    const media = (
      kind: "image" | "video" | "audio" | "document",
      body: { readonly url?: string | undefined; readonly data?: string | undefined },
      extra: Partial<{ caption: string; filename: string; mimeType: string }>
    ): FakeNetwork.Content => ({
      kind,
      url: body.url,
      bytes: body.data === undefined ? undefined : decodeBase64Length(body.data),
      ...extra
    })

    const captioned = (kind: "image" | "video") =>
    (body: {
      readonly session: string
      readonly to: string
      readonly url?: string | undefined
      readonly data?: string | undefined
      readonly caption?: string | undefined
      readonly replyTo?: string | undefined
    }) =>
      Effect.gen(function*() {
        yield* checkUrl(body.url, body.data, "url")
        yield* checkText(body.caption, "caption", Message.limits.captionLength)
        const caption = body.caption ? { caption: body.caption } : {}
        return yield* deliver({ ...body, content: media(kind, body, caption), type: kind })
      })

    const app = yield* Emulator.router([
      Emulator.endpoint(Api.sendAny, route, (body) =>
        Effect.gen(function*() {
          yield* checkText(body.text, "text", Message.limits.textLength)
          const url = body.imageUrl ?? body.videoUrl ?? body.documentUrl ?? body.audioUrl
          if (url === undefined) {
            if (!body.text) return yield* error(400, "text or a media URL is required")
            return yield* deliver({ ...body, content: { kind: "text", text: body.text }, type: "text" })
          }
          yield* checkUrl(url, undefined, "url")
          const kind = body.imageUrl ? "image" : body.videoUrl ? "video" : body.documentUrl ? "document" : "audio"
          yield* checkText(body.text, "caption", Message.limits.captionLength)
          return yield* deliver({
            ...body,
            content: media(kind, { url }, {
              ...(body.text ? { caption: body.text } : {}),
              ...(body.filename ? { filename: body.filename } : {}),
              ...(body.mimetype ? { mimeType: body.mimetype } : {})
            }),
            type: kind === "audio" ? "ptt" : kind
          })
        })),
      Emulator.endpoint(Api.sendText, route, (body) =>
        Effect.gen(function*() {
          if (body.text.length === 0) return yield* error(400, "text is required")
          yield* checkText(body.text, "text", Message.limits.textLength)
          return yield* deliver({ ...body, content: { kind: "text", text: body.text }, type: "text" })
        })),
      Emulator.endpoint(Api.sendImage, route, captioned("image")),
      Emulator.endpoint(Api.sendVideo, route, captioned("video")),
      Emulator.endpoint(Api.sendVoice, route, (body) =>
        Effect.gen(function*() {
          yield* checkUrl(body.url, body.data, "url")
          return yield* deliver({ ...body, content: media("audio", body, {}), type: "ptt" })
        })),
      Emulator.endpoint(Api.sendFile, route, (body) =>
        Effect.gen(function*() {
          yield* checkUrl(body.url, body.data, "url")
          return yield* deliver({
            ...body,
            content: media("document", body, { filename: body.fileName, mimeType: body.mimeType }),
            type: "document"
          })
        })),
      Emulator.endpoint(Api.reaction, route, (body) =>
        Effect.gen(function*() {
          if (body.session !== session) return yield* error(404, `Session "${body.session}" not found`)
          const original = yield* network.find(body.messageId)
          if (original._tag === "None") return yield* error(404, `Message ${body.messageId} not found`)
          const id = WahaEmulation.messageId(original.value.chat)
          yield* network.deliver({
            id,
            provider,
            business,
            chat: original.value.chat,
            content: { kind: "reaction", messageId: body.messageId, emoji: body.reaction }
          }).pipe(Effect.mapError((e) => error(422, e.message)))
          return { id, success: true }
        }))
    ])

    const base = yield* WahaEmulation.serve({
      ...options,
      app,
      engine: options.engine ?? "NOWEB",
      secret: options.webhookSecret,
      provider,
      session,
      business,
      network
    })
    return { ...base, apiKey, session } satisfies ChatSendEmulator
  })

/**
 * The emulator as a layer, for tests and the example app: `layer(options)`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = Emulator.layer(ChatSendEmulator, make)
