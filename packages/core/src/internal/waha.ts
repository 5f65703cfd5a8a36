import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as ChatId from "../ChatId.js"
import * as InboundEvent from "../InboundEvent.js"
import type * as Waha from "../Waha.js"
import type * as Webhook from "../Webhook.js"
import * as ProviderWebhook from "./webhook.js"

const optionalNullable = <S extends Schema.Top>(schema: S) => Schema.optional(Schema.NullOr(schema))

/** @internal */
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

/** @internal */
export const Body = Schema.Union([Envelope, Schema.Array(Envelope)])

/** @internal */
export const Jid = Schema.Union([Schema.String, Schema.Struct({ _serialized: Schema.String })])

const jidString = (jid: typeof Jid.Type): string => typeof jid === "string" ? jid : jid._serialized

/** @internal */
export const ReplyTo = Schema.Struct({
  id: optionalNullable(Schema.String),
  participant: optionalNullable(Jid),
  body: optionalNullable(Schema.String)
})

/** @internal */
export const RawData = Schema.Struct({
  notifyName: ProviderWebhook.lenient(Schema.String),
  pushName: ProviderWebhook.lenient(Schema.String),
  Info: ProviderWebhook.lenient(Schema.Struct({ PushName: ProviderWebhook.lenient(Schema.String) })),
  author: ProviderWebhook.lenient(Jid),
  type: ProviderWebhook.lenient(Schema.String),
  lat: ProviderWebhook.lenient(Schema.Number),
  lng: ProviderWebhook.lenient(Schema.Number),
  loc: ProviderWebhook.lenient(Schema.String),
  message: ProviderWebhook.lenient(Schema.Struct({
    locationMessage: ProviderWebhook.lenient(Schema.Struct({
      degreesLatitude: Schema.Number,
      degreesLongitude: Schema.Number,
      name: ProviderWebhook.lenient(Schema.String),
      address: ProviderWebhook.lenient(Schema.String)
    }))
  }))
})

const Coordinate = Schema.Union([Schema.Number, Schema.NumberFromString])

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
  _data: ProviderWebhook.lenient(RawData)
}

const MessageContent = Schema.Struct(messageContent)

/** @internal */
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

/** @internal */
export const ReactionPayload = Schema.Struct({
  id: Schema.String,
  timestamp: Schema.optional(Schema.Number),
  from: Schema.String,
  fromMe: Schema.Boolean,
  to: optionalNullable(Schema.String),
  participant: optionalNullable(Schema.String),
  reaction: Schema.Struct({ text: Schema.String, messageId: Schema.String })
})

/** @internal */
export const AckPayload = Schema.Struct({
  id: Schema.String,
  from: Schema.String,
  to: optionalNullable(Schema.String),
  participant: optionalNullable(Schema.String),
  fromMe: Schema.Boolean,
  ack: Schema.Number,
  ackName: Schema.optional(Schema.String)
})

/** @internal */
export const ackLevels: Record<InboundEvent.DeliveryStatus, number> = {
  failed: -1,
  sent: 1,
  delivered: 2,
  read: 3,
  played: 4
}

const serialisedId = /^(true|false)_([^_]+@[^_]+)_([^_]+)(?:_(.+))?$/

/** @internal */
export const parseMessageId = (id: string): Option.Option<Waha.MessageIdParts> => {
  const match = serialisedId.exec(id)
  return match === null
    ? Option.none()
    : Option.some({ fromMe: match[1] === "true", chat: match[2]!, id: match[3]!, participant: match[4] })
}

/** @internal */
export const formatMessageId = (parts: Waha.MessageIdParts): string =>
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
  timestamp: ProviderWebhook.lenient(Schema.Number),
  me: ProviderWebhook.lenient(Schema.Struct({ id: Schema.String })),
  engine: ProviderWebhook.lenient(Schema.String),
  payload: Schema.Unknown
})

const MessageHead = Schema.Struct({
  id: Schema.String,
  from: Schema.String,
  fromMe: ProviderWebhook.lenient(Schema.Boolean),
  timestamp: ProviderWebhook.lenient(Schema.Number),
  participant: ProviderWebhook.lenient(Schema.String),
  _data: ProviderWebhook.lenient(RawData)
})

const ReactionHead = Schema.Struct({
  id: Schema.String,
  from: Schema.String,
  fromMe: ProviderWebhook.lenient(Schema.Boolean),
  timestamp: ProviderWebhook.lenient(Schema.Number),
  to: ProviderWebhook.lenient(Schema.String),
  participant: ProviderWebhook.lenient(Schema.String)
})

const AckHead = Schema.Struct({
  id: Schema.String,
  ack: Schema.Number,
  fromMe: ProviderWebhook.lenient(Schema.Boolean),
  from: ProviderWebhook.lenient(Schema.String),
  to: ProviderWebhook.lenient(Schema.String),
  ackName: ProviderWebhook.lenient(Schema.String)
})

const decodeEnvelopeHead = ProviderWebhook.decodeShape(EnvelopeHead)
const decodeMessageHead = ProviderWebhook.decodeShape(MessageHead, ["payload"])
const decodeMessageContent = ProviderWebhook.decodeShape(MessageContent, ["payload"])
const decodeReactionHead = ProviderWebhook.decodeShape(ReactionHead, ["payload"])
const decodeReaction = ProviderWebhook.decodeShape(Schema.Struct({ reaction: ReactionPayload.fields.reaction }), [
  "payload"
])
const decodeAckHead = ProviderWebhook.decodeShape(AckHead, ["payload"])

const isGroupJid = (jid: string | undefined): jid is string => jid !== undefined && jid.endsWith("@g.us")

const sameUser = (a: string, b: string) =>
  Result.getOrUndefined(ChatId.parse(a))?.toString() === Result.getOrUndefined(ChatId.parse(b))?.toString()

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

const contentOf = (c: typeof MessageContent.Type): InboundEvent.Content => {
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

// Events are built from values already decoded: the checks are skipped.
const trusted = { disableChecks: true } as const

const decodeOne = (provider: string, json: unknown, index: number, now: number): Events => {
  const skip = (reason: string) => ProviderWebhook.skip(provider, `event ${index}: ${reason}`)
  const head = decodeEnvelopeHead(json)
  if (Result.isFailure(head)) return skip(head.failure)
  const envelope = head.success
  const at = (seconds: number | undefined) =>
    new Date(seconds !== undefined ? seconds * 1000 : envelope.timestamp ?? now)
  const ignored = Effect.succeed([])
  const chatOf = (jid: string, field: string) =>
    Result.mapError(ChatId.parse(jid), (error) => `${envelope.event}: payload.${field}: ${error.reason}`)

  switch (envelope.event) {
    case "message": {
      const decoded = decodeMessageHead(envelope.payload)
      if (Result.isFailure(decoded)) return skip(`message: ${decoded.failure}`)
      const p = decoded.success
      if (p.fromMe || ChatId.isBroadcast(p.from)) return ignored
      const chat = chatOf(p.from, "from")
      if (Result.isFailure(chat)) return skip(chat.failure)
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
          chat: chat.success,
          sender: author ? Result.getOrElse(ChatId.parse(author), () => chat.success) : chat.success,
          senderName: p._data?.notifyName ?? p._data?.pushName ?? p._data?.Info?.PushName,
          content: Result.match(content, {
            onFailure: (reason) => new InboundEvent.UnavailableContent({ reason }),
            onSuccess: contentOf
          }),
          replyTo: Result.isSuccess(content)
            ? quotedId(content.success.replyTo, p.from, chat.success, envelope)
            : undefined,
          at: at(p.timestamp)
        }, trusted)
      ])
    }
    case "message.reaction": {
      const decoded = decodeReactionHead(envelope.payload)
      if (Result.isFailure(decoded)) return skip(`message.reaction: ${decoded.failure}`)
      const p = decoded.success
      // The chat is the group on either side (WEBJS puts it in `to`), else `from`.
      const chatJid = [p.from, p.to].find(isGroupJid) ?? p.from
      if (p.fromMe || ChatId.isBroadcast(chatJid)) return ignored
      const chat = chatOf(chatJid, chatJid === p.from ? "from" : "to")
      if (Result.isFailure(chat)) return skip(chat.failure)
      const author = p.participant ?? (p.from === chatJid ? undefined : p.from)
      const reaction = decodeReaction(envelope.payload)
      return Effect.succeed([
        new InboundEvent.MessageReceived({
          provider,
          eventId: `reaction:${p.id}`,
          messageId: p.id,
          chat: chat.success,
          sender: author ? Result.getOrElse(ChatId.parse(author), () => chat.success) : chat.success,
          content: Result.match(reaction, {
            onFailure: (reason) => new InboundEvent.UnavailableContent({ reason }),
            onSuccess: ({ reaction }) =>
              new InboundEvent.ReactionContent({ messageId: reaction.messageId, emoji: reaction.text })
          }),
          at: at(p.timestamp)
        }, trusted)
      ])
    }
    case "message.ack": {
      const decoded = decodeAckHead(envelope.payload)
      if (Result.isFailure(decoded)) return skip(`message.ack: ${decoded.failure}`)
      const p = decoded.success
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
          chat: chatJid === undefined ? undefined : Result.getOrUndefined(ChatId.parse(chatJid)),
          status,
          error: status === "failed" ? (p.ackName ?? "ERROR") : undefined,
          at: new Date(envelope.timestamp ?? now)
        }, trusted)
      ])
    }
    default:
      return ignored
  }
}

/** @internal */
export const decode = (provider: string, body: unknown): Events => {
  const envelopes: ReadonlyArray<unknown> = Array.isArray(body) ? body : [body]
  return Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.map(
      Effect.forEach(envelopes, (envelope, index) => decodeOne(provider, envelope, index, now)),
      (events) => events.flat()
    ))
}

/** @internal */
export const webhookHandler = (provider: string, options: Waha.WebhookOptions): Webhook.WebhookHandler => {
  const parse = ProviderWebhook.parseJson(provider)
  return {
    provider,
    verify: ProviderWebhook.verification(provider, {
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

/** @internal */
export const webhookConfig = (prefix: string): Config.Config<Waha.WebhookOptions> =>
  Config.all({
    secret: Config.option(Config.Redacted(`${prefix}_WEBHOOK_SECRET`)),
    header: Config.option(Config.String(`${prefix}_WEBHOOK_HEADER`)),
    algorithm: Config.option(Config.Literals(["sha256", "sha512"], `${prefix}_WEBHOOK_ALGORITHM`)),
    token: Config.option(Config.Redacted(`${prefix}_WEBHOOK_TOKEN`))
  }).pipe(Config.map((options) => ({
    secret: Option.getOrUndefined(options.secret),
    header: Option.getOrUndefined(options.header),
    algorithm: Option.getOrUndefined(options.algorithm),
    token: Option.getOrUndefined(options.token)
  })))
