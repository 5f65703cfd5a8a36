import { describe, expect, it } from "@effect/vitest"
import { ChatId } from "@parley/core"
import * as Equal from "effect/Equal"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"

// E.164: country code (no leading zero) + subscriber digits, 7..15 digits in all.
const e164 = Schema.String.check(Schema.isPattern(/^[1-9]\d{6,14}$/))

describe("ChatId", () => {
  it.prop("every phone notation parses to the same digits", [e164], ([digits]) => {
    const forms = [
      `+${digits}`,
      digits,
      `00${digits}`,
      `+${digits.slice(0, 2)} (${digits.slice(2, 5)}) ${digits.slice(5)}`,
      `${digits}@c.us`,
      `${digits}@s.whatsapp.net`,
      `${digits}:12@s.whatsapp.net`
    ]
    for (const form of forms) {
      const chat = Result.getOrThrow(ChatId.parse(form))
      expect(chat.kind).toBe("phone")
      expect(chat.id).toBe(digits)
      expect(Equal.equals(chat, ChatId.phone(`+${digits}`))).toBe(true)
    }
  })

  it.prop("phones render in every provider's wire form and parse back", [e164], ([digits]) => {
    const chat = ChatId.phone(digits)
    expect(ChatId.toE164(chat)).toBe(`+${digits}`)
    expect(ChatId.toDigits(chat)).toBe(digits)
    expect(ChatId.toJid(chat, "c.us")).toBe(`${digits}@c.us`)
    expect(ChatId.toJid(chat, "s.whatsapp.net")).toBe(`${digits}@s.whatsapp.net`)
    for (
      const wire of [
        ChatId.toE164(chat),
        ChatId.toDigits(chat),
        ChatId.toJid(chat, "c.us"),
        ChatId.toJid(chat, "s.whatsapp.net")
      ]
    ) {
      expect(Equal.equals(Result.getOrThrow(ChatId.parse(wire)), chat)).toBe(true)
    }
  })

  it.prop(
    "JIDs of groups, newsletters and lids round-trip unchanged through every renderer",
    [Schema.Literals(["g.us", "newsletter", "lid"]), Schema.String.check(Schema.isPattern(/^\d{5,22}$/))],
    ([domain, id]) => {
      const chat = Result.getOrThrow(ChatId.parse(`${id}@${domain}`))
      expect(chat.kind).toBe(domain === "g.us" ? "group" : domain)
      for (
        const rendered of [
          ChatId.toE164(chat),
          ChatId.toDigits(chat),
          ChatId.toJid(chat, "c.us"),
          ChatId.toJid(chat, "s.whatsapp.net")
        ]
      ) {
        expect(rendered).toBe(`${id}@${domain}`)
      }
    }
  )

  it.prop("the Schema round-trips any chat", [e164], ([digits]) => {
    const chat = ChatId.phone(digits)
    const encoded = Schema.encodeSync(ChatId.FromString)(chat)
    expect(Equal.equals(Schema.decodeSync(ChatId.FromString)(encoded), chat)).toBe(true)
  })

  it("legacy group ids with a dash are groups", () => {
    expect(ChatId.group("14155550123-1612345678").toString()).toBe("14155550123-1612345678@g.us")
  })

  it.each([
    ["", "digits"],
    ["+1 415 CALL NOW", "only digits"],
    ["0415555012", "country code"],
    ["+123456", "7 to 15 digits"],
    ["+1234567890123456", "7 to 15 digits"],
    ["abc@g.us", "group id"],
    ["123@example.com", "unknown JID domain"],
    ["x@newsletter", "newsletter id"]
  ])("rejects %j naming the problem", (input, reason) => {
    const result = ChatId.parse(input)
    expect(Result.isFailure(result)).toBe(true)
    if (Result.isFailure(result)) {
      expect(result.failure._tag).toBe("InvalidChatId")
      expect(result.failure.message).toContain(reason)
    }
  })

  it("phone() throws InvalidChatId on bad input and group() refuses non-groups", () => {
    expect(() => ChatId.phone("nope")).toThrow(/Invalid chat id/)
    expect(() => ChatId.group("14155550123@c.us")).toThrow(/not a group/)
  })
})
