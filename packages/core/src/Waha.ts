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
import * as ParseResult from "effect/ParseResult"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as ChatId from "./ChatId.js"
import * as InboundEvent from "./InboundEvent.js"
import * as Webhook from "./Webhook.js"

const optionalNullable = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

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
 * The `message` event's payload (whatsapp-web.js / WAHA message).
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
  /** The author, in groups. */
  participant: optionalNullable(Schema.String),
  /** The text, or the caption of media. */
  body: optionalNullable(Schema.String),
  hasMedia: Schema.optional(Schema.Boolean),
  media: optionalNullable(Schema.Struct({
    url: optionalNullable(Schema.String),
    mimetype: optionalNullable(Schema.String),
    filename: optionalNullable(Schema.String)
  })),
  location: optionalNullable(Schema.Struct({
    latitude: Schema.Union(Schema.Number, Schema.NumberFromString),
    longitude: Schema.Union(Schema.Number, Schema.NumberFromString),
    name: optionalNullable(Schema.String),
    address: optionalNullable(Schema.String),
    description: optionalNullable(Schema.String)
  })),
  replyTo: optionalNullable(Schema.Struct({ id: Schema.String, body: optionalNullable(Schema.String) })),
  _data: Schema.optional(Schema.Struct({ notifyName: optionalNullable(Schema.String) }))
})

/**
 * The `message.reaction` event's payload.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReactionPayload = Schema.Struct({
  id: Schema.String,
  timestamp: Schema.optional(Schema.Number),
  from: Schema.String,
  fromMe: Schema.Boolean,
  participant: optionalNullable(Schema.String),
  reaction: Schema.Struct({ text: Schema.String, messageId: Schema.String })
})

/**
 * The `message.ack` event's payload. `ack`: -1 error, 0 pending, 1 server (sent), 2 device
 * (delivered), 3 read, 4 played.
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

const statusOfAck = (ack: number): InboundEvent.DeliveryStatus | undefined =>
  (Object.keys(ackLevels) as Array<InboundEvent.DeliveryStatus>).find((status) => ackLevels[status] === ack)

const mediaKind = (mimetype: string | null | undefined): "image" | "video" | "audio" | "document" => {
  const top = mimetype?.split("/")[0]
  return top === "image" || top === "video" || top === "audio" ? top : "document"
}

const payloadOf = <A, I>(provider: string, schema: Schema.Schema<A, I>, envelope: Envelope, index: number) =>
  Either.mapLeft(Schema.decodeUnknownEither(schema, { errors: "first" })(envelope.payload), (error) => {
    const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
    const where = ["payload", ...(issue?.path ?? [])].join(".")
    return new Webhook.WebhookError({
      provider,
      status: 400,
      reason: `event ${index} (${envelope.event}): unexpected shape at ${where}: ${issue?.message ?? "invalid"}`
    })
  })

const chatOf = (provider: string, jid: string, field: string) =>
  Either.mapLeft(
    ChatId.parse(jid),
    (error) =>
      new Webhook.WebhookError({ provider, status: 400, reason: `${field}: ${error.reason} (${JSON.stringify(jid)})` })
  )

const decodeOne = (
  provider: string,
  envelope: Envelope,
  index: number,
  now: number
): Either.Either<ReadonlyArray<InboundEvent.InboundEvent>, Webhook.WebhookError> =>
  Either.gen(function*() {
    switch (envelope.event) {
      case "message": {
        const p = yield* payloadOf(provider, MessagePayload, envelope, index)
        if (p.fromMe) return []
        const chat = yield* chatOf(provider, p.from, "payload.from")
        const sender = p.participant ? yield* chatOf(provider, p.participant, "payload.participant") : chat
        const content: InboundEvent.Content = p.location
          ? new InboundEvent.LocationContent({
            latitude: p.location.latitude,
            longitude: p.location.longitude,
            name: p.location.name ?? p.location.description ?? undefined,
            address: p.location.address ?? undefined
          })
          : p.hasMedia || p.media
          ? new InboundEvent.MediaContent({
            kind: mediaKind(p.media?.mimetype),
            url: p.media?.url ?? undefined,
            mimeType: p.media?.mimetype ?? undefined,
            filename: p.media?.filename ?? undefined,
            caption: p.body || undefined
          })
          : new InboundEvent.TextContent({ text: p.body ?? "" })
        return [
          new InboundEvent.MessageReceived({
            provider,
            eventId: `message:${p.id}`,
            messageId: p.id,
            chat,
            sender,
            senderName: p._data?.notifyName ?? undefined,
            content,
            replyTo: p.replyTo?.id,
            at: new Date(p.timestamp * 1000)
          }, true)
        ]
      }
      case "message.reaction": {
        const p = yield* payloadOf(provider, ReactionPayload, envelope, index)
        if (p.fromMe) return []
        const chat = yield* chatOf(provider, p.from, "payload.from")
        const sender = p.participant ? yield* chatOf(provider, p.participant, "payload.participant") : chat
        return [
          new InboundEvent.MessageReceived({
            provider,
            eventId: `reaction:${p.id}`,
            messageId: p.id,
            chat,
            sender,
            content: new InboundEvent.ReactionContent({ messageId: p.reaction.messageId, emoji: p.reaction.text }),
            at: new Date(p.timestamp ? p.timestamp * 1000 : envelope.timestamp ?? now)
          }, true)
        ]
      }
      case "message.ack": {
        const p = yield* payloadOf(provider, AckPayload, envelope, index)
        const status = statusOfAck(p.ack)
        if (!p.fromMe || status === undefined) return []
        const chat = p.to ? Either.getOrUndefined(ChatId.parse(p.to)) : undefined
        return [
          new InboundEvent.StatusChanged({
            provider,
            eventId: `ack:${p.id}:${p.ack}`,
            messageId: p.id,
            chat,
            status,
            error: status === "failed" ? (p.ackName ?? "ERROR") : undefined,
            at: new Date(envelope.timestamp ?? now)
          }, true)
        ]
      }
      default:
        return []
    }
  })

/**
 * Decodes verified envelopes into events. Our own messages echoed back (`fromMe`), pending acks and
 * events Parley does not use produce no events; a payload of the wrong shape is a 400 naming the
 * event and the field.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (
  provider: string,
  body: typeof Body.Type
): Effect.Effect<ReadonlyArray<InboundEvent.InboundEvent>, Webhook.WebhookError> => {
  const envelopes: ReadonlyArray<Envelope> = Array.isArray(body) ? body : [body as Envelope]
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
  const decodeBody = Webhook.decodeJson(provider, Body)
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
    decode: (request) => Effect.flatMap(decodeBody(request.body), (body) => decode(provider, body))
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
