/**
 * The outbound half of emulating a WAHA-based provider (ChatSend, Wawp): message ids in WAHA's form,
 * and fake-network events turned into WAHA webhook envelopes in the shapes of the configured engine
 * (WEBJS, NOWEB or GOWS: see {@link payloadOf}), encoded with core's `Waha` schemas and signed as WAHA
 * signs them. Inbound message ids are the fake network's (WAHA's would be serialised,
 * `false_<chat>_<id>`), so that tests can find a user's message by the id the network gave it.
 *
 * @since 0.1.0
 */
import { ChatId } from "@parley/core"
import { ProviderWebhook, Waha } from "@parley/core/provider"
import * as Effect from "effect/Effect"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { randomBytes } from "node:crypto"
import * as Emulator from "./Emulator.js"
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
  /** Where quoted messages are looked up. */
  readonly network: FakeNetwork.Service
  /** The engine whose payload shapes to post (default NOWEB); see {@link payloadOf}. */
  readonly engine?: Waha.Engine | undefined
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

const bareId = (id: string) => Option.match(Waha.parseMessageId(id), { onNone: () => id, onSome: (parts) => parts.id })

/**
 * The `message`, `message.reaction` or `message.ack` payload a WAHA engine posts for a fake-network
 * event, in that engine's shape. What differs, as WAHA's source has it
 * (`src/core/engines/{webjs,noweb,gows}/session.*.core.ts`, devlikeapro/waha 2024.10 and later):
 *
 * - WEBJS: a group message has no `participant` (the author is only `_data.author`); a reaction puts its
 *   author in `from` and the chat in `to`; an ack puts us in `from` and the chat in `to`; a quote's id
 *   is the bare WhatsApp id.
 * - NOWEB: `participant` and `to` only in groups, so an ack in a one-to-one chat has no `to`; `replyTo`
 *   is built from any message context (`extractReplyTo`), so a plain message carries `{ body: null }`;
 *   `location` is never set (2024.10): a location is only in `_data.message.locationMessage`.
 * - GOWS: `to` and `participant` are the author in groups, `null` otherwise; quotes as WEBJS.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const payloadOf = (
  options: Options,
  event: FakeNetwork.NetworkEvent
): Effect.Effect<Option.Option<{ readonly event: string; readonly payload: unknown }>> =>
  Effect.gen(function*() {
    const { message } = event
    const engine = options.engine ?? "NOWEB"
    if (message.business.toString() !== options.business.toString()) return Option.none()
    const chat = ChatId.toJid(message.chat, "c.us")
    const me = ChatId.toJid(options.business, "c.us")
    const group = message.chat.kind === "group"
    const author = message.author && ChatId.toJid(message.author, "c.us")
    switch (event._tag) {
      case "UserWrote": {
        if (event.via !== undefined && event.via !== options.provider) return Option.none()
        const content = message.content
        const timestamp = Math.floor(message.at / 1000)
        if (content.kind === "reaction") {
          const reaction = { text: content.emoji, messageId: content.messageId }
          return Option.some({
            event: "message.reaction",
            payload: encodeReaction(
              engine === "WEBJS"
                ? {
                  id: message.id,
                  timestamp,
                  from: author ?? chat,
                  participant: author ?? chat,
                  to: chat,
                  fromMe: false,
                  reaction
                }
                : engine === "NOWEB"
                ? {
                  id: message.id,
                  timestamp,
                  from: chat,
                  fromMe: false,
                  reaction,
                  ...(group ? { to: chat, participant: author ?? null } : {})
                }
                : {
                  id: message.id,
                  timestamp,
                  from: chat,
                  fromMe: false,
                  to: author ?? null,
                  participant: author ?? null,
                  reaction
                }
            )
          })
        }
        const media = content.kind === "image" || content.kind === "video" || content.kind === "audio" ||
          content.kind === "document" || content.kind === "sticker"
        const name = `User ${(message.author ?? message.chat).id.slice(-4)}`
        const location = content.kind === "location" ? content : undefined
        const quoted = message.replyTo === undefined ? Option.none() : yield* options.network.find(message.replyTo)
        const replyTo = message.replyTo === undefined
          ? (engine === "NOWEB" ? { body: null } : null)
          : {
            id: bareId(message.replyTo),
            participant: Option.match(quoted, {
              onNone: () => null,
              onSome: (q) => q.direction === "outbound" ? me : ChatId.toJid(q.author ?? q.chat, "c.us")
            }),
            body: Option.match(quoted, {
              onNone: () => null,
              onSome: (q) => q.content.kind === "text" ? q.content.text : null
            })
          }
        return Option.some({
          event: "message",
          payload: encodeMessage({
            id: message.id,
            timestamp,
            from: chat,
            fromMe: false,
            ...(engine === "WEBJS"
              ? { to: me }
              : engine === "NOWEB"
              ? (group ? { to: chat, participant: author ?? null } : {})
              : { to: author ?? null, participant: author ?? null }),
            body: content.kind === "text" ? content.text : media ? content.caption ?? "" : "",
            hasMedia: media,
            media: media
              ? { url: content.url ?? null, mimetype: content.mimeType ?? null, filename: content.filename ?? null }
              : null,
            location: location && engine !== "NOWEB"
              ? engine === "WEBJS"
                ? { latitude: location.latitude, longitude: location.longitude, description: location.name ?? null }
                : {
                  latitude: location.latitude,
                  longitude: location.longitude,
                  name: location.name ?? null,
                  address: location.address ?? null
                }
              : null,
            replyTo,
            _data: engine === "WEBJS"
              ? {
                notifyName: name,
                ...(author ? { author } : {}),
                ...(location ? { type: "location", lat: location.latitude, lng: location.longitude } : {})
              }
              : engine === "NOWEB"
              ? {
                pushName: name,
                ...(location
                  ? {
                    message: {
                      locationMessage: {
                        degreesLatitude: location.latitude,
                        degreesLongitude: location.longitude,
                        name: location.name,
                        address: location.address
                      }
                    }
                  }
                  : {})
              }
              : { Info: { PushName: name } }
          })
        })
      }
      case "StatusChanged": {
        if (message.provider !== options.provider || message.direction !== "outbound") return Option.none()
        const ack = Waha.ackLevels[message.status]
        const ackName = ackNames[ack] ?? "UNKNOWN"
        return Option.some({
          event: "message.ack",
          payload: encodeAck(
            engine === "WEBJS"
              ? { id: message.id, from: me, to: chat, fromMe: true, ack, ackName }
              : engine === "NOWEB"
              ? { id: message.id, from: chat, fromMe: true, ack, ackName, ...(group ? { to: chat } : {}) }
              : { id: message.id, from: chat, to: null, participant: null, fromMe: true, ack, ackName }
          )
        })
      }
      case "Delivered":
        return Option.none()
    }
  })

/**
 * The webhook a WAHA-based emulator posts for a fake-network event, if any.
 *
 * @since 0.1.0
 * @category webhooks
 */
export const toWebhook =
  (options: Options) => (event: FakeNetwork.NetworkEvent): Effect.Effect<ReadonlyArray<Emulator.WebhookPost>> =>
    Effect.map(
      payloadOf(options, event),
      (payload) =>
        Option.toArray(Option.map(payload, ({ event: name, payload }) => {
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
            headers[hmac.header] = ProviderWebhook.sign(hmac, body)
            headers["X-Webhook-Hmac-Algorithm"] = hmac.algorithm
          }
          return { body, headers }
        }))
    )

/**
 * Starts a WAHA-based provider's emulator: `app` (its `Emulator.router`) served by `Emulator.make`,
 * posting WAHA webhooks for the fake network's events.
 *
 * @since 0.1.0
 * @category constructors
 */
export const serve = <E, R>(
  options: Options & {
    readonly app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
    readonly port?: number | undefined
    readonly webhookUrl?: string | undefined
  }
) => Emulator.make({ ...options, toWebhook: toWebhook(options) })
