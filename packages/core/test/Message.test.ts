import { describe, expect, it } from "@effect/vitest"
import { ChatId, Message } from "@parley/core"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"

const to = ChatId.phone("+14155550123")

const invalid = (message: Message.Message) => {
  const result = Message.validate(message, "test")
  if (Result.isSuccess(result)) throw new Error("expected InvalidMessage")
  return result.failure
}

describe("Message.validate", () => {
  it("accepts messages at every limit", () => {
    const valid: ReadonlyArray<Message.Message> = [
      Message.text(to, "x".repeat(4096)),
      Message.image(to, { url: "https://example.com/a.png", caption: "c".repeat(1024), sizeBytes: 16 * 1024 * 1024 }),
      Message.video(to, { url: "http://example.com/a.mp4" }),
      Message.audio(to, { url: "https://example.com/a.ogg" }),
      Message.document(to, { url: "https://example.com/a.pdf", filename: "a.pdf", caption: "c" }),
      Message.location(to, { latitude: -90, longitude: 180 }),
      Message.reaction(to, { messageId: "wamid.1", emoji: "👍" }),
      Message.reaction(to, { messageId: "wamid.1", emoji: "" }),
      Message.template(to, {
        name: "reminder",
        variables: ["Ada"],
        headerMedia: { kind: "image", url: "https://e.com/h.png" }
      })
    ]
    for (const message of valid) expect(Result.isSuccess(Message.validate(message, "test"))).toBe(true)
  })

  it.each([
    [Message.text(to, "x".repeat(4097)), "text", "4097 characters; WhatsApp allows at most 4096"],
    [Message.text(to, "   "), "text", "must not be empty"],
    [Message.image(to, { url: "https://e.com/a.png", caption: "c".repeat(1025) }), "caption", "at most 1024"],
    [Message.video(to, { url: "https://e.com/a.mp4", caption: "c".repeat(1025) }), "caption", "at most 1024"],
    [Message.document(to, { url: "https://e.com/a.pdf", caption: "c".repeat(1025) }), "caption", "at most 1024"],
    [Message.image(to, { url: "ftp://e.com/a.png" }), "url", "http(s) URL, not ftp:"],
    [Message.audio(to, { url: "not a url" }), "url", "absolute http(s) URL"],
    [
      Message.video(to, { url: "https://e.com/a.mp4", sizeBytes: 16 * 1024 * 1024 + 1 }),
      "sizeBytes",
      "at most 16777216"
    ],
    [Message.location(to, { latitude: 91, longitude: 0 }), "latitude", "between -90 and 90"],
    [Message.location(to, { latitude: 0, longitude: -181 }), "longitude", "between -180 and 180"],
    [Message.reaction(to, { messageId: " ", emoji: "👍" }), "messageId", "provider message id"],
    [Message.template(to, { name: "" }), "name", ""],
    [
      Message.template(to, { name: "t", headerMedia: { kind: "image", url: "file:///x" } }),
      "headerMedia.url",
      "http(s)"
    ],
    [Message.text(to, "hi", { replyTo: "" }), "replyTo", "provider message id"],
    [Message.buttons(to, { body: "Pick", options: ["a", " "] }), "options.1", "must not be empty"],
    [Message.buttons(to, { body: "Pick", options: ["Yes", "yes"] }), "options", "must differ from each other"],
    [Message.buttons(to, { body: "", options: ["a"] }), "body", "must not be empty"],
    [Message.sticker(to, { url: "ftp://e.com/s.webp" }), "url", "http(s) URL"]
  ])("%#: rejects a bad %s naming the field and the limit", (message, field, reason) => {
    const error = invalid(message)
    expect(error._tag).toBe("InvalidMessage")
    expect(error.provider).toBe("test")
    expect(error.field).toBe(field)
    expect(error.reason).toContain(reason)
  })

  it("messages encode to JSON and decode back", () => {
    const message = Message.text(to, "hello", { replyTo: "abc" })
    const json = Schema.encodeSync(Message.Message)(message)
    expect(json).toEqual({ _tag: "Text", to: "+14155550123", text: "hello", replyTo: "abc" })
    expect(Schema.decodeUnknownSync(Message.Message)(json)).toEqual(message)
  })

  it("kind names each message kind", () => {
    expect(Message.kind(Message.text(to, "a"))).toBe("text")
    expect(Message.kind(Message.template(to, { name: "t" }))).toBe("template")
  })
})

describe("Message choices", () => {
  it("a choice is sent as its numbered text where there are no buttons", () => {
    const choice = Message.buttons(to, { body: "Pick a time", options: ["09:00", "11:00"], replyTo: "m1" })
    expect(Message.kind(choice)).toBe("buttons")
    expect(Message.choiceText("Pick a time", ["09:00", "11:00"])).toBe("Pick a time\n1. 09:00\n2. 11:00")
    expect(Message.asText(choice)).toEqual(Message.text(to, "Pick a time\n1. 09:00\n2. 11:00", { replyTo: "m1" }))
    expect(Result.isSuccess(Message.validate(choice, "test"))).toBe(true)
  })
})

describe("Message media helpers", () => {
  it("mimeType prefers the given type, then the extension, then the kind's default", () => {
    expect(Message.mimeType(Message.image(to, { url: "https://e.com/a.png", mimeType: "image/webp" }))).toBe(
      "image/webp"
    )
    expect(Message.mimeType(Message.document(to, { url: "https://e.com/dl?id=1", filename: "Report.PDF" }))).toBe(
      "application/pdf"
    )
    expect(Message.mimeType(Message.audio(to, { url: "https://e.com/voice" }))).toBe("audio/ogg")
  })
  it("filename prefers the given name, then the URL's last segment", () => {
    expect(Message.filename(Message.document(to, { url: "https://e.com/x.pdf", filename: "a.pdf" }))).toBe("a.pdf")
    expect(Message.filename(Message.video(to, { url: "https://e.com/media/clip%201.mp4" }))).toBe("clip 1.mp4")
  })
})
