/**
 * Who a message goes to or comes from: a phone number or a WhatsApp JID, normalised once and rendered
 * in each provider's own wire form.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"

/**
 * The kinds of chat WhatsApp addresses.
 *
 * - `phone`: a person, by E.164 number (digits only, no `+`)
 * - `group`: a group chat (`…@g.us`)
 * - `newsletter`: a channel (`…@newsletter`)
 * - `lid`: a person by linked identity, when WhatsApp hides the number (`…@lid`)
 *
 * @since 0.1.0
 * @category models
 */
export const Kind = Schema.Literals(["phone", "group", "newsletter", "lid"])

/**
 * @since 0.1.0
 * @category models
 */
export type Kind = typeof Kind.Type

const suffixes: Record<Exclude<Kind, "phone">, string> = {
  group: "g.us",
  newsletter: "newsletter",
  lid: "lid"
}

/**
 * A normalised chat address. Build one with {@link phone}, {@link group} or {@link parse}; compare with
 * `Equal.equals`; `toString()` gives the canonical form (`+14155550123`, `1203…@g.us`).
 *
 * @since 0.1.0
 * @category models
 */
export class ChatId extends Schema.Class<ChatId>("@parley/core/ChatId")({
  kind: Kind,
  /** E.164 digits for phones, the part before `@` for JIDs. */
  id: Schema.String
}) {
  /** The canonical form: `+<digits>` for phones, `<id>@<suffix>` otherwise. */
  override toString(): string {
    return this.kind === "phone" ? `+${this.id}` : `${this.id}@${suffixes[this.kind]}`
  }
}

/**
 * Why a string is not a chat address.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidChatId extends Schema.TaggedError<InvalidChatId>()("InvalidChatId", {
  input: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Invalid chat id ${JSON.stringify(this.input)}: ${this.reason}`
  }
}

const MIN_PHONE_DIGITS = 7
const MAX_PHONE_DIGITS = 15

const phoneDigits = (input: string): Result.Result<string, InvalidChatId> => {
  const compact = input.trim().replace(/[\s().-]/g, "")
  const digits = compact.startsWith("+") ? compact.slice(1) : compact.startsWith("00") ? compact.slice(2) : compact
  if (!/^\d+$/.test(digits)) {
    return Result.fail(
      new InvalidChatId({ input, reason: "a phone number may hold only digits, spaces, ( ) . - and a leading +" })
    )
  }
  if (digits.startsWith("0")) {
    return Result.fail(new InvalidChatId({ input, reason: "a phone number needs its country code (E.164)" }))
  }
  if (digits.length < MIN_PHONE_DIGITS || digits.length > MAX_PHONE_DIGITS) {
    return Result.fail(
      new InvalidChatId({ input, reason: `E.164 numbers have ${MIN_PHONE_DIGITS} to ${MAX_PHONE_DIGITS} digits` })
    )
  }
  return Result.succeed(digits)
}

/**
 * Parses any wire form: `+14155550123`, `14155550123`, `0014155550123`, `+1 (415) 555-0123`,
 * `14155550123@c.us`, `14155550123@s.whatsapp.net` (also with a `:device` suffix), `1203…@g.us`,
 * `…@newsletter`, `…@lid` (also with a `:device` suffix). `status@broadcast` and broadcast lists are not
 * chats: see {@link isBroadcast}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parse = (input: string): Result.Result<ChatId, InvalidChatId> => {
  const at = input.lastIndexOf("@")
  if (at === -1) return Result.map(phoneDigits(input), (id) => new ChatId({ kind: "phone", id }))
  const local = input.slice(0, at).trim()
  const domain = input.slice(at + 1).trim().toLowerCase()
  switch (domain) {
    case "c.us":
    case "s.whatsapp.net": {
      const user = local.split(":")[0]!.split(".")[0]!
      return Result.map(phoneDigits(user), (id) => new ChatId({ kind: "phone", id }))
    }
    case "g.us":
      return /^\d+(-\d+)?$/.test(local)
        ? Result.succeed(new ChatId({ kind: "group", id: local }))
        : Result.fail(new InvalidChatId({ input, reason: "a group id is digits (or digits-digits) before @g.us" }))
    case "newsletter":
      return /^\d+$/.test(local)
        ? Result.succeed(new ChatId({ kind: domain, id: local }))
        : Result.fail(new InvalidChatId({ input, reason: `a ${domain} id is digits before @${domain}` }))
    case "lid": {
      // A sender's device may follow (`…:12@lid`), as it does on phone JIDs.
      const user = local.split(":")[0]!.split(".")[0]!
      return /^\d+$/.test(user)
        ? Result.succeed(new ChatId({ kind: domain, id: user }))
        : Result.fail(new InvalidChatId({ input, reason: `a ${domain} id is digits before @${domain}` }))
    }
    default:
      return Result.fail(
        new InvalidChatId({
          input,
          reason: `unknown JID domain "@${domain}" (c.us, s.whatsapp.net, g.us, newsletter, lid)`
        })
      )
  }
}

/**
 * Whether a wire JID is WhatsApp's status feed (`status@broadcast`) or a broadcast list (`…@broadcast`):
 * not a conversation a bot takes part in, so webhook decoders ignore what arrives from one.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isBroadcast = (jid: string): boolean => jid.trim().toLowerCase().endsWith("@broadcast")

/**
 * A person's chat by phone number in any common notation. Throws `InvalidChatId` on a malformed
 * number: use {@link parse} for input you do not control.
 *
 * @since 0.1.0
 * @category constructors
 */
export const phone = (number: string): ChatId =>
  Result.getOrThrowWith(
    Result.map(phoneDigits(number), (id) => new ChatId({ kind: "phone", id })),
    (error) => error
  )

/**
 * A group chat, from its JID (`1203…@g.us`) or the bare id. Throws `InvalidChatId` when malformed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const group = (jid: string): ChatId => {
  const chat = Result.getOrThrowWith(parse(jid.includes("@") ? jid : `${jid}@g.us`), (error) => error)
  if (chat.kind !== "group") throw new InvalidChatId({ input: jid, reason: "not a group JID (…@g.us)" })
  return chat
}

/**
 * `+` and the E.164 digits (Callbell, ChatSend). JIDs are rendered whole.
 *
 * @since 0.1.0
 * @category rendering
 */
export const toE164 = (chat: ChatId): string => chat.toString()

/**
 * The E.164 digits without `+` (BotPenguin, Meta). JIDs are rendered whole.
 *
 * @since 0.1.0
 * @category rendering
 */
export const toDigits = (chat: ChatId): string => chat.kind === "phone" ? chat.id : chat.toString()

/**
 * The JID form. Phones use `@c.us` (whatsapp-web.js, WAHA) or `@s.whatsapp.net` (whatsmeow).
 *
 * @since 0.1.0
 * @category rendering
 */
export const toJid = (chat: ChatId, userDomain: "c.us" | "s.whatsapp.net"): string =>
  chat.kind === "phone" ? `${chat.id}@${userDomain}` : chat.toString()

/**
 * A `Schema` from any wire form (string) to a `ChatId`, encoding to the canonical form.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FromString: Schema.Codec<ChatId, string> = Schema.String.pipe(
  Schema.decodeTo(
    Schema.toType(ChatId),
    SchemaTransformation.transformEffect({
      decode: (input, options) =>
        Result.match(parse(input), {
          onSuccess: Effect.succeed,
          onFailure: (error) => Effect.fail(new SchemaIssue.InvalidValue({ message: error.reason }, input, options))
        }),
      encode: (chat) => Effect.succeed(chat.toString())
    })
  )
)
