/**
 * The webhook format of WAHA (WhatsApp HTTP API), the open-source engine behind several providers
 * (ChatSend/Wasend, Wawp): an envelope `{ id, timestamp, event, session, me, payload }`, one or an
 * array per request, with `message`, `message.reaction` and `message.ack` events. Providers on WAHA
 * share these `Schema`s and this decoder; their emulators encode with the same `Schema`s.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as InboundEvent from "./InboundEvent.js"
import * as internal from "./internal/waha.js"
import type * as Webhook from "./Webhook.js"

/**
 * WAHA's engines: WEBJS (whatsapp-web.js in a browser), NOWEB (Baileys) and GOWS (whatsmeow). The same
 * events come in different shapes from each (see {@link decode}).
 *
 * @since 0.1.0
 * @category models
 */
export type Engine = "WEBJS" | "NOWEB" | "GOWS"

/**
 * One webhook event.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Envelope: typeof internal.Envelope = internal.Envelope

/**
 * @since 0.1.0
 * @category schemas
 */
export type Envelope = typeof Envelope.Type

/**
 * A request body: one envelope, or several.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Body: typeof internal.Body = internal.Body

/**
 * A JID as engines write it: a string, or (in WEBJS's raw data) an object with `_serialized`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Jid: typeof internal.Jid = internal.Jid

/**
 * The message a `message` quotes. `id` and `participant` "may be absent depending on the engine" (WAHA's
 * docs): NOWEB builds `replyTo` from any message context, quoting or not, so it often carries only
 * `body: null`. Older versions of every engine give the bare WhatsApp id (`AAAA…`), newer ones the
 * serialised one (`false_<chat>_AAAA…`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReplyTo: typeof internal.ReplyTo = internal.ReplyTo

/**
 * The engine's raw message (`_data`), of which Parley reads only what some engine leaves nowhere else:
 * the sender's name (WEBJS `notifyName`, NOWEB `pushName`, GOWS `Info.PushName`), a WEBJS group
 * message's `author`, and locations from versions without `location` (WEBJS `type: "location"` with
 * `lat`/`lng`/`loc`, NOWEB `message.locationMessage`). Every field is optional and dropped when odd.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RawData: typeof internal.RawData = internal.RawData

/**
 * The `message` event's payload. `from` is the chat; in groups the author is `participant` (NOWEB,
 * GOWS) or only `_data.author` (WEBJS).
 *
 * @since 0.1.0
 * @category schemas
 */
export const MessagePayload: typeof internal.MessagePayload = internal.MessagePayload

/**
 * The `message.reaction` event's payload. NOWEB and GOWS put the chat in `from` and the author in
 * `participant`; WEBJS puts the author in `from` (and `participant`) and the chat in `to`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReactionPayload: typeof internal.ReactionPayload = internal.ReactionPayload

/**
 * The `message.ack` event's payload. `ack`: -1 error, 0 pending, 1 server (sent), 2 device
 * (delivered), 3 read, 4 played. The documented minimum has no `to`; WEBJS puts us in `from` and the
 * chat in `to`, NOWEB and GOWS the chat in `from` (and in a group GOWS puts the member in `to`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const AckPayload: typeof internal.AckPayload = internal.AckPayload

/**
 * The ack level for each delivery status, as WAHA numbers them.
 *
 * @since 0.1.0
 * @category models
 */
export const ackLevels: Readonly<Record<InboundEvent.DeliveryStatus, number>> = internal.ackLevels

/**
 * The parts of a serialised WAHA message id, `<fromMe>_<chat>_<id>[_<participant>]`.
 *
 * @since 0.1.0
 * @category ids
 */
export interface MessageIdParts {
  readonly fromMe: boolean
  readonly chat: string
  readonly id: string
  readonly participant?: string | undefined
}

/**
 * Reads a serialised WAHA message id; `None` for a bare WhatsApp id.
 *
 * @since 0.1.0
 * @category ids
 */
export const parseMessageId: (id: string) => Option.Option<MessageIdParts> = internal.parseMessageId

/**
 * Writes a serialised WAHA message id.
 *
 * @since 0.1.0
 * @category ids
 */
export const formatMessageId: (parts: MessageIdParts) => string = internal.formatMessageId

/**
 * Decodes a verified body (one envelope or an array) into events, each envelope on its own, so an odd
 * one never costs the others. Our own messages echoed back (`fromMe`), pending acks, `status@broadcast`
 * and events Parley does not use produce no events. A message whose content cannot be read is kept with
 * `UnavailableContent`; an envelope that cannot be addressed to a chat is logged and skipped.
 *
 * Engine differences handled here: a group message's author is `participant` (NOWEB, GOWS) or WEBJS's
 * `_data.author`; a reaction's chat is the group whichever side it is on (WEBJS puts it in `to`); an
 * ack's chat is read from its serialised id when `to` is absent (the documented minimum; NOWEB and GOWS
 * in one-to-one chats); a location is read from `_data` when `location` is absent (older versions); a
 * bare quoted id is rebuilt into the serialised form message ids take.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode: (
  provider: string,
  body: unknown
) => Effect.Effect<ReadonlyArray<InboundEvent.InboundEvent>> = internal.decode

/**
 * How a WAHA-based provider's webhooks are verified: HMAC of the raw body when a secret is set (WAHA
 * sends hex HMAC-SHA512 in `X-Webhook-Hmac`), else a secret token in the webhook URL.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebhookOptions {
  readonly secret?: Redacted.Redacted | undefined
  /** The signature header (default `x-webhook-hmac`). */
  readonly header?: string | undefined
  /** The HMAC algorithm (default `sha512`). */
  readonly algorithm?: "sha256" | "sha512" | undefined
  readonly token?: Redacted.Redacted | undefined
}

/**
 * The webhook handler of a WAHA-based provider.
 *
 * @since 0.1.0
 * @category constructors
 */
export const webhookHandler: (provider: string, options: WebhookOptions) => Webhook.WebhookHandler =
  internal.webhookHandler

/**
 * Reads `<prefix>_WEBHOOK_SECRET`, `<prefix>_WEBHOOK_HEADER`, `<prefix>_WEBHOOK_ALGORITHM` and
 * `<prefix>_WEBHOOK_TOKEN`.
 *
 * @since 0.1.0
 * @category config
 */
export const webhookConfig: (prefix: string) => Config.Config<WebhookOptions> = internal.webhookConfig
