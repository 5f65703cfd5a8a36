/**
 * The outbound half of emulating a WAHA-based provider (ChatSend, Wawp): message ids in WAHA's form,
 * and fake-network events turned into WAHA webhook envelopes, encoded with core's `Waha` schemas and
 * signed as WAHA signs them.
 *
 * @since 0.1.0
 */
import { ChatId, Waha, Webhook } from "@parley/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { randomBytes } from "node:crypto"
import type * as Emulator from "./Emulator.js"
import type * as FakeNetwork from "./FakeNetwork.js"

/**
 * A WAHA message id for a message we send: `true_<chat>@c.us_<HEX>`.
 *
 * @since 0.1.0
 * @category ids
 */
export const messageId = (chat: ChatId.ChatId, fromMe = true): string =>
  `${fromMe}_${ChatId.toJid(chat, "c.us")}_${randomBytes(10).toString("hex").toUpperCase()}`

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly provider: string
  readonly session: string
  readonly business: ChatId.ChatId
  readonly engine?: string | undefined
  /** Sign with HMAC (hex) in `header` (default `X-Webhook-Hmac`, `sha512`). */
  readonly secret?: string | undefined
  readonly header?: string | undefined
  readonly algorithm?: "sha256" | "sha512" | undefined
  /** Post several events as one array (Wawp does), instead of one envelope per request. */
  readonly arrays?: boolean | undefined
}

const encodeEnvelope = Schema.encodeSync(Waha.Envelope)
const encodeMessage = Schema.encodeSync(Waha.MessagePayload)
const encodeReaction = Schema.encodeSync(Waha.ReactionPayload)
const encodeAck = Schema.encodeSync(Waha.AckPayload)

const ackNames: Record<number, string> = { [-1]: "ERROR", 1: "SERVER", 2: "DEVICE", 3: "READ", 4: "PLAYED" }

const payloadOf = (
  options: Options,
  event: FakeNetwork.NetworkEvent
): Option.Option<{ readonly event: string; readonly payload: unknown }> => {
  const { message } = event
  if (message.business.toString() !== options.business.toString()) return Option.none()
  const chat = ChatId.toJid(message.chat, "c.us")
  const me = ChatId.toJid(options.business, "c.us")
  switch (event._tag) {
    case "UserWrote": {
      if (event.via !== undefined && event.via !== options.provider) return Option.none()
      const content = message.content
      const timestamp = Math.floor(message.at / 1000)
      if (content.kind === "reaction") {
        return Option.some({
          event: "message.reaction",
          payload: encodeReaction({
            id: message.id,
            timestamp,
            from: chat,
            fromMe: false,
            reaction: { text: content.emoji, messageId: content.messageId }
          })
        })
      }
      const media = content.kind === "image" || content.kind === "video" || content.kind === "audio" ||
        content.kind === "document" || content.kind === "sticker"
      return Option.some({
        event: "message",
        payload: encodeMessage({
          id: message.id,
          timestamp,
          from: chat,
          fromMe: false,
          to: me,
          body: content.kind === "text" ? content.text : media ? content.caption ?? "" : "",
          hasMedia: media,
          media: media
            ? { url: content.url ?? null, mimetype: content.mimeType ?? null, filename: content.filename ?? null }
            : null,
          location: content.kind === "location"
            ? {
              latitude: content.latitude,
              longitude: content.longitude,
              name: content.name ?? null,
              address: content.address ?? null
            }
            : null,
          replyTo: message.replyTo ? { id: message.replyTo } : null,
          _data: { notifyName: `User ${message.chat.id.slice(-4)}` }
        })
      })
    }
    case "StatusChanged": {
      if (message.provider !== options.provider || message.direction !== "outbound") return Option.none()
      const ack = Waha.ackLevels[message.status]
      return Option.some({
        event: "message.ack",
        payload: encodeAck({
          id: message.id,
          from: chat,
          to: chat,
          fromMe: true,
          ack,
          ackName: ackNames[ack] ?? "UNKNOWN"
        })
      })
    }
    case "Delivered":
      return Option.none()
  }
}

/**
 * The webhook a WAHA-based emulator posts for a fake-network event, if any.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const toWebhook =
  (options: Options) => (event: FakeNetwork.NetworkEvent): Effect.Effect<Option.Option<Emulator.WebhookPost>> =>
    Effect.sync(() =>
      Option.map(payloadOf(options, event), ({ event: name, payload }) => {
        const envelope = encodeEnvelope({
          id: `evt_${randomBytes(12).toString("hex")}`,
          timestamp: Date.now(),
          event: name,
          session: options.session,
          me: { id: ChatId.toJid(options.business, "c.us"), pushName: "Parley Business" },
          payload,
          engine: options.engine ?? "NOWEB"
        })
        const body = JSON.stringify(options.arrays ? [envelope] : envelope)
        const headers: Record<string, string> = {}
        if (options.secret !== undefined) {
          const hmac = {
            secret: Redacted.make(options.secret),
            header: options.header ?? "X-Webhook-Hmac",
            algorithm: options.algorithm ?? "sha512"
          } as const
          headers[hmac.header] = Webhook.sign(hmac, body)
          headers["X-Webhook-Hmac-Algorithm"] = hmac.algorithm
        }
        return { body, headers }
      })
    )
