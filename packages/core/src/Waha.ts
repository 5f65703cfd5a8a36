/**
 * The webhook format of WAHA (WhatsApp HTTP API), the open-source engine behind several providers
 * (ChatSend/Wasend, Wawp): an envelope `{ id, timestamp, event, session, me, payload }`, one or an
 * array per request, with `message`, `message.reaction` and `message.ack` events. Providers on WAHA
 * share these `Schema`s and this decoder; their emulators encode with the same `Schema`s.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as ChatId from "./ChatId.js"
import * as InboundEvent from "./InboundEvent.js"
import * as Webhook from "./Webhook.js"

const optionalNullable = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

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
export const Envelope = Schema.Struct({
  id: Schema.optional(Schema.String),
  /** Milliseconds since the epoch. */
  timestamp: Schema.optional(Schema.Number),
  event: Schema.String,
  session: Schema.String,
  me: optionalNullable(Schema.Struct({ id: Schema.String, pushName: optionalNullable(Schema.String) })),
  payload: Schema.Unknown,
  engine: Schema.optional(Schema.String),
  environment: Schema.optional(Schema.Unknown)
})

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
export const Body = Schema.Union(Envelope, Schema.Array(Envelope))

/**
 * A JID as engines write it: a string, or (in WEBJS's raw data) an object with `_serialized`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Jid = Schema.Union(Schema.String, Schema.Struct({ _serialized: Schema.String }))

const jidString = (jid: typeof Jid.Type): string => typeof jid === "string" ? jid : jid._serialized

/**
 * The message a `message` quotes. `id` and `participant` "may be absent depending on the engine" (WAHA's
 * docs): NOWEB builds `replyTo` from any message context, quoting or not, so it often carries only
 * `body: null`. Older versions of every engine give the bare WhatsApp id (`AAAA…`), newer ones the
 * serialised one (`false_<chat>_AAAA…`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReplyTo = Schema.Struct({
  id: optionalNullable(Schema.String),
  participant: optionalNullable(Jid),
  body: optionalNullable(Schema.String)
})

/**
 * The engine's raw message (`_data`), of which Parley reads only what some engine leaves nowhere else:
 * the sender's name (WEBJS `notifyName`, NOWEB `pushName`, GOWS `Info.PushName`), a WEBJS group
 * message's `author`, and locations from versions without `location` (WEBJS `type: "location"` with
 * `lat`/`lng`/`loc`, NOWEB `message.locationMessage`). Every field is optional and dropped when odd.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RawData = Schema.Struct({
  notifyName: Webhook.lenient(Schema.String),
  pushName: Webhook.lenient(Schema.String),
  Info: Webhook.lenient(Schema.Struct({ PushName: Webhook.lenient(Schema.String) })),
  author: Webhook.lenient(Jid),
  type: Webhook.lenient(Schema.String),
  lat: Webhook.lenient(Schema.Number),
  lng: Webhook.lenient(Schema.Number),
  loc: Webhook.lenient(Schema.String),
  message: Webhook.lenient(Schema.Struct({
    locationMessage: Webhook.lenient(Schema.Struct({
      degreesLatitude: Schema.Number,
      degreesLongitude: Schema.Number,
      name: Webhook.lenient(Schema.String),
      address: Webhook.lenient(Schema.String)
    }))
  }))
})

const Coordinate = Schema.Union(Schema.Number, Schema.NumberFromString)

const messageContent = {
  /** The text, or the caption of media. */
  body: optionalNullable(Schema.String),
  hasMedia: Schema.optional(Schema.Boolean),
  media: optionalNullable(Schema.Struct({
    url: optionalNullable(Schema.String),
    mimetype: optionalNullable(Schema.String),
    filename: optionalNullable(Schema.String)
  })),
  location: optionalNullable(Schema.Struct({
    latitude: Coordinate,
    longitude: Coordinate,
    name: optionalNullable(Schema.String),
    address: optionalNullable(Schema.String),
    description: optionalNullable(Schema.String)
  })),
  replyTo: optionalNullable(ReplyTo),
  _data: Webhook.lenient(RawData)
}

/**
 * The `message` event's payload. `from` is the chat; in groups the author is `participant` (NOWEB,
 * GOWS) or only `_data.author` (WEBJS).
 *
 * @since 0.1.0
 * @category schemas
 */
export const MessagePayload = Schema.Struct({
  id: Schema.String,
  /** Seconds since the epoch. */
  timestamp: Schema.Number,
  from: Schema.String,
  fromMe: Schema.Boolean,
  to: optionalNullable(Schema.String),
  participant: optionalNullable(Schema.String),
  ...messageContent
})

/**
 * The `message.reaction` event's payload. NOWEB and GOWS put the chat in `from` and the author in
 * `participant`; WEBJS puts the author in `from` (and `participant`) and the chat in `to`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReactionPayload = Schema.Struct({
  id: Schema.String,
  timestamp: Schema.optional(Schema.Number),
  from: Schema.String,
  fromMe: Schema.Boolean,
  to: optionalNullable(Schema.String),
  participant: optionalNullable(Schema.String),
  reaction: Schema.Struct({ text: Schema.String, messageId: Schema.String })
})

/**
 * The `message.ack` event's payload. `ack`: -1 error, 0 pending, 1 server (sent), 2 device
 * (delivered), 3 read, 4 played. The documented minimum has no `to`; WEBJS puts us in `from` and the
 * chat in `to`, NOWEB and GOWS the chat in `from` (and in a group GOWS puts the member in `to`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const AckPayload = Schema.Struct({
  id: Schema.String,
  from: Schema.String,
  to: optionalNullable(Schema.String),
  participant: optionalNullable(Schema.String),
  fromMe: Schema.Boolean,
  ack: Schema.Number,
  ackName: Schema.optional(Schema.String)
})

/**
 * The ack level for each delivery status, as WAHA numbers them.
 *
 * @since 0.1.0
 * @category models
 */
export const ackLevels: Record<InboundEvent.DeliveryStatus, number> = {
  failed: -1,
  sent: 1,
  delivered: 2,
  read: 3,
  played: 4
}

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

const serialisedId = /^(true|false)_([^_]+@[^_]+)_([^_]+)(?:_(.+))?$/

/**
 * Reads a serialised WAHA message id; `None` for a bare WhatsApp id.
 *
 * @since 0.1.0
 * @category ids
 */
export const parseMessageId = (id: string): Option.Option<MessageIdParts> => {
  const match = serialisedId.exec(id)
  return match === null
    ? Option.none()
    : Option.some({ fromMe: match[1] === "true", chat: match[2]!, id: match[3]!, participant: match[4] })
}

/**
 * Writes a serialised WAHA message id.
 *
 * @since 0.1.0
 * @category ids
 */
export const formatMessageId = (parts: MessageIdParts): string =>
  `${parts.fromMe}_${parts.chat}_${parts.id}${parts.participant === undefined ? "" : `_${parts.participant}`}`

const statusOfAck = (ack: number): InboundEvent.DeliveryStatus | undefined =>
  (Object.keys(ackLevels) as Array<InboundEvent.DeliveryStatus>).find((status) => ackLevels[status] === ack)

const mediaKind = (mimetype: string | null | undefined): "image" | "video" | "audio" | "document" => {
  const top = mimetype?.split("/")[0]
  return top === "image" || top === "video" || top === "audio" ? top : "document"
}

// What each event needs to be addressed at all; the rest is read separately, so an odd value elsewhere
// costs only itself.
const EnvelopeHead = Schema.Struct({
  event: Schema.String,
  timestamp: Webhook.lenient(Schema.Number),
  me: Webhook.lenient(Schema.Struct({ id: Schema.String })),
  engine: Webhook.lenient(Schema.String),
  payload: Schema.Unknown
})

const MessageHead = Schema.Struct({
  id: Schema.String,
  from: Schema.String,
  fromMe: Webhook.lenient(Schema.Boolean),
  timestamp: Webhook.lenient(Schema.Number),
  participant: Webhook.lenient(Schema.String),
  _data: Webhook.lenient(RawData)
})

const ReactionHead = Schema.Struct({
  id: Schema.String,
  from: Schema.String,
  fromMe: Webhook.lenient(Schema.Boolean),
  timestamp: Webhook.lenient(Schema.Number),
  to: Webhook.lenient(Schema.String),
  participant: Webhook.lenient(Schema.String)
})

const AckHead = Schema.Struct({
  id: Schema.String,
  ack: Schema.Number,
  fromMe: Webhook.lenient(Schema.Boolean),
  from: Webhook.lenient(Schema.String),
  to: Webhook.lenient(Schema.String),
  ackName: Webhook.lenient(Schema.String)
})

const decodeEnvelopeHead = Webhook.decodeShape(EnvelopeHead)
const decodeMessageHead = Webhook.decodeShape(MessageHead, ["payload"])
const decodeMessageContent = Webhook.decodeShape(Schema.Struct(messageContent), ["payload"])
const decodeReactionHead = Webhook.decodeShape(ReactionHead, ["payload"])
const decodeReaction = Webhook.decodeShape(Schema.Struct({ reaction: ReactionPayload.fields.reaction }), ["payload"])
const decodeAckHead = Webhook.decodeShape(AckHead, ["payload"])

const isGroupJid = (jid: string | undefined): jid is string => jid !== undefined && jid.endsWith("@g.us")

const sameUser = (a: string, b: string) =>
  Either.getOrUndefined(ChatId.parse(a))?.toString() === Either.getOrUndefined(ChatId.parse(b))?.toString()

type Head = typeof EnvelopeHead.Type

/** The id of the quoted message in the form message ids take, when it can be known. */
const quotedId = (
  replyTo: typeof ReplyTo.Type | null | undefined,
  chatJid: string,
  chat: ChatId.ChatId,
  head: Head
): string | undefined => {
  const id = replyTo?.id
  if (!id || Option.isSome(parseMessageId(id))) return id || undefined
  const participant = replyTo.participant ? jidString(replyTo.participant) : undefined
  // A bare id: rebuild the serialised one from who wrote the quoted message.
  if (participant === undefined) return id
  const fromMe = head.me ? sameUser(participant, head.me.id) : chat.kind !== "group" && !sameUser(participant, chatJid)
  return formatMessageId({
    fromMe,
    chat: chatJid,
    id,
    participant: chat.kind === "group" && head.engine !== "NOWEB" ? participant : undefined
  })
}

const contentOf = (
  c: Schema.Schema.Type<Schema.Struct<typeof messageContent>>
): InboundEvent.Content => {
  const raw = c._data
  const located = c.location
    ? {
      latitude: c.location.latitude,
      longitude: c.location.longitude,
      name: c.location.name ?? c.location.description ?? undefined,
      address: c.location.address ?? undefined
    }
    : raw?.message?.locationMessage
    ? {
      latitude: raw.message.locationMessage.degreesLatitude,
      longitude: raw.message.locationMessage.degreesLongitude,
      name: raw.message.locationMessage.name,
      address: raw.message.locationMessage.address
    }
    : raw?.type === "location" && raw.lat !== undefined && raw.lng !== undefined
    ? { latitude: raw.lat, longitude: raw.lng, name: raw.loc }
    : undefined
  if (located) return new InboundEvent.LocationContent(located)
  if (raw?.type === "location") return new InboundEvent.UnavailableContent({ reason: "a location without coordinates" })
  if (c.hasMedia || c.media) {
    return new InboundEvent.MediaContent({
      kind: mediaKind(c.media?.mimetype),
      url: c.media?.url ?? undefined,
      mimeType: c.media?.mimetype ?? undefined,
      filename: c.media?.filename ?? undefined,
      caption: c.body || undefined
    })
  }
  return new InboundEvent.TextContent({ text: c.body ?? "" })
}

type Events = Effect.Effect<ReadonlyArray<InboundEvent.InboundEvent>>

const decodeOne = (provider: string, json: unknown, index: number, now: number): Events => {
  const skip = (reason: string) => Webhook.skip(provider, `event ${index}: ${reason}`)
  const head = decodeEnvelopeHead(json)
  if (Either.isLeft(head)) return skip(head.left)
  const envelope = head.right
  const at = (seconds: number | undefined) =>
    new Date(seconds !== undefined ? seconds * 1000 : envelope.timestamp ?? now)
  const ignored = Effect.succeed([])
  const chatOf = (jid: string, field: string) =>
    Either.mapLeft(ChatId.parse(jid), (error) => `${envelope.event}: payload.${field}: ${error.reason}`)

  switch (envelope.event) {
    case "message": {
      const decoded = decodeMessageHead(envelope.payload)
      if (Either.isLeft(decoded)) return skip(`message: ${decoded.left}`)
      const p = decoded.right
      if (p.fromMe || ChatId.isBroadcast(p.from)) return ignored
      const chat = chatOf(p.from, "from")
      if (Either.isLeft(chat)) return skip(chat.left)
      // The author of a group message: `participant` (NOWEB, GOWS), else WEBJS's raw `author`, else the
      // participant part of a serialised id.
      const author = p.participant ?? (p._data?.author && jidString(p._data.author)) ??
        Option.getOrUndefined(parseMessageId(p.id))?.participant
      const content = decodeMessageContent(envelope.payload)
      return Effect.succeed([
        new InboundEvent.MessageReceived({
          provider,
          eventId: `message:${p.id}`,
          messageId: p.id,
          chat: chat.right,
          sender: author ? Either.getOrElse(ChatId.parse(author), () => chat.right) : chat.right,
          senderName: p._data?.notifyName ?? p._data?.pushName ?? p._data?.Info?.PushName,
          content: Either.match(content, {
            onLeft: (reason) => new InboundEvent.UnavailableContent({ reason }),
            onRight: contentOf
          }),
          replyTo: Either.isRight(content)
            ? quotedId(content.right.replyTo, p.from, chat.right, envelope)
            : undefined,
          at: at(p.timestamp)
        }, true)
      ])
    }
    case "message.reaction": {
      const decoded = decodeReactionHead(envelope.payload)
      if (Either.isLeft(decoded)) return skip(`message.reaction: ${decoded.left}`)
      const p = decoded.right
      // The chat is the group on either side (WEBJS puts it in `to`), else `from`.
      const chatJid = [p.from, p.to].find(isGroupJid) ?? p.from
      if (p.fromMe || ChatId.isBroadcast(chatJid)) return ignored
      const chat = chatOf(chatJid, chatJid === p.from ? "from" : "to")
      if (Either.isLeft(chat)) return skip(chat.left)
      const author = p.participant ?? (p.from === chatJid ? undefined : p.from)
      const reaction = decodeReaction(envelope.payload)
      return Effect.succeed([
        new InboundEvent.MessageReceived({
          provider,
          eventId: `reaction:${p.id}`,
          messageId: p.id,
          chat: chat.right,
          sender: author ? Either.getOrElse(ChatId.parse(author), () => chat.right) : chat.right,
          content: Either.match(reaction, {
            onLeft: (reason) => new InboundEvent.UnavailableContent({ reason }),
            onRight: ({ reaction }) =>
              new InboundEvent.ReactionContent({ messageId: reaction.messageId, emoji: reaction.text })
          }),
          at: at(p.timestamp)
        }, true)
      ])
    }
    case "message.ack": {
      const decoded = decodeAckHead(envelope.payload)
      if (Either.isLeft(decoded)) return skip(`message.ack: ${decoded.left}`)
      const p = decoded.right
      const status = statusOfAck(p.ack)
      if (!p.fromMe || status === undefined) return ignored
      // The chat: from a serialised id, else `to`, else `from` unless that is us (WEBJS).
      const chatJid = [Option.getOrUndefined(parseMessageId(p.id))?.chat, p.to, p.from].find((jid) =>
        jid !== undefined && !(envelope.me && sameUser(jid, envelope.me.id))
      )
      if (chatJid !== undefined && ChatId.isBroadcast(chatJid)) return ignored
      return Effect.succeed([
        new InboundEvent.StatusChanged({
          provider,
          eventId: `ack:${p.id}:${p.ack}`,
          messageId: p.id,
          chat: chatJid === undefined ? undefined : Either.getOrUndefined(ChatId.parse(chatJid)),
          status,
          error: status === "failed" ? (p.ackName ?? "ERROR") : undefined,
          at: new Date(envelope.timestamp ?? now)
        }, true)
      ])
    }
    default:
      return ignored
  }
}

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
export const decode = (provider: string, body: unknown): Events => {
  const envelopes: ReadonlyArray<unknown> = Array.isArray(body) ? body : [body]
  return Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.map(
      Effect.forEach(envelopes, (envelope, index) => decodeOne(provider, envelope, index, now)),
      (events) => events.flat()
    ))
}

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
export const webhookHandler = (provider: string, options: WebhookOptions): Webhook.WebhookHandler => {
  const parse = Webhook.parseJson(provider)
  return {
    provider,
    verify: Webhook.verification(provider, {
      hmac: options.secret && {
        secret: options.secret,
        header: options.header ?? "x-webhook-hmac",
        algorithm: options.algorithm ?? "sha512"
      },
      token: options.token
    }),
    decode: (request) => Effect.flatMap(parse(request.body), (body) => decode(provider, body))
  }
}

/**
 * Reads `<prefix>_WEBHOOK_SECRET`, `<prefix>_WEBHOOK_HEADER`, `<prefix>_WEBHOOK_ALGORITHM` and
 * `<prefix>_WEBHOOK_TOKEN`.
 *
 * @since 0.1.0
 * @category config
 */
export const webhookConfig = (prefix: string): Config.Config<WebhookOptions> =>
  Config.all({
    secret: Config.option(Config.redacted(`${prefix}_WEBHOOK_SECRET`)),
    header: Config.option(Config.string(`${prefix}_WEBHOOK_HEADER`)),
    algorithm: Config.option(Config.literal("sha256", "sha512")(`${prefix}_WEBHOOK_ALGORITHM`)),
    token: Config.option(Config.redacted(`${prefix}_WEBHOOK_TOKEN`))
  }).pipe(Config.map((options) => ({
    secret: Option.getOrUndefined(options.secret),
    header: Option.getOrUndefined(options.header),
    algorithm: Option.getOrUndefined(options.algorithm),
    token: Option.getOrUndefined(options.token)
  })))
