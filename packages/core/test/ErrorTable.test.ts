import { describe, expect, it } from "@effect/vitest"
import { MessagingError } from "@parley/core"
import { ErrorTable, type HttpTransport, MetaError } from "@parley/core/provider"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

const answer = (status: number, body: unknown, retryAfter?: Duration.Duration): HttpTransport.Answer => ({
  provider: "p",
  status,
  headers: {},
  body,
  retryAfter: retryAfter === undefined ? Option.none() : Option.some(retryAfter),
  chat: "+31612345678"
})

const classify = ErrorTable.classifier({
  read: (body) => {
    const error = (body as { readonly error?: { readonly code?: string; readonly sub?: number } } | undefined)?.error
    return typeof error?.code === "string"
      ? { code: error.code, subcode: error.sub, reason: `code ${error.code}` }
      : undefined
  },
  rules: [
    { status: "any", code: "engine_down", outcome: "unavailable" },
    { code: "no_such_number", subcode: 33, outcome: "misconfigured" },
    { code: "no_such_number", outcome: "invalid", field: "to" },
    { status: "4xx", text: /not on whatsapp/i, outcome: "recipientUnavailable" },
    { status: [404, 409], text: /window/i, outcome: "windowClosed" },
    { status: "5xx", text: /cannot carry/i, outcome: "unsupported", feature: "this file" }
  ]
})

describe("ErrorTable", () => {
  it("the first rule that matches status, code, subcode and words decides; the rest is read by status", () => {
    expect(classify(answer(400, { error: { code: "no_such_number", sub: 33 } }))).toEqual(
      new MessagingError.Unauthorized({ provider: "p", status: 400, reason: "code no_such_number" })
    )
    expect(classify(answer(400, { error: { code: "no_such_number" } }))).toEqual(
      new MessagingError.InvalidMessage({ provider: "p", field: "to", status: 400, reason: "code no_such_number" })
    )
    expect(classify(answer(422, { message: "The number is not on WhatsApp" }))).toEqual(
      new MessagingError.RecipientUnavailable({
        provider: "p",
        chat: "+31612345678",
        reason: "The number is not on WhatsApp"
      })
    )
    // The words alone are not enough: the status must match too.
    expect(classify(answer(500, { message: "The number is not on WhatsApp" }))?._tag).toBe("ProviderUnavailable")
    expect(classify(answer(409, "24 h window closed"))).toEqual(
      new MessagingError.WindowClosed({ provider: "p", chat: "+31612345678", reason: "24 h window closed" })
    )
    expect(classify(answer(502, { error: "cannot carry a .exe" }))).toEqual(
      new MessagingError.Unsupported({ provider: "p", feature: "this file (p answered 502: cannot carry a .exe)" })
    )
    // No rule: the status, with the table's reason.
    expect(classify(answer(429, { error: { code: "slow_down" } }, Duration.seconds(2)))).toEqual(
      new MessagingError.RateLimited({
        provider: "p",
        status: 429,
        reason: "code slow_down",
        retryAfter: Duration.seconds(2)
      })
    )
    expect(classify(answer(402, { message: "Payment required" }))).toMatchObject({ _tag: "Unauthorized", status: 402 })
    expect(classify(answer(404, { message: "Message not found" }))).toMatchObject({
      _tag: "InvalidMessage",
      status: 404
    })
  })

  it("a 2xx is a success unless a rule names a 2xx status or the table claims its body as an error", () => {
    expect(classify(answer(200, { id: "m1" }))).toBeUndefined()
    expect(classify(answer(200, { error: { code: "no_such_number", sub: 33 } }))).toBeUndefined()
    expect(classify(answer(200, { error: { code: "engine_down" } }))).toEqual(
      new MessagingError.ProviderUnavailable({ provider: "p", reason: "code engine_down" })
    )
    const claiming = ErrorTable.classifier({
      ...MetaError.table,
      successErrors: (body) => MetaError.read(body) !== undefined
    })
    expect(claiming(answer(200, { messages: [{ id: "wamid.1" }] }))).toBeUndefined()
    expect(claiming(answer(200, { error: { code: 131047, message: "Re-engagement message" } }))).toEqual(
      new MessagingError.WindowClosed({
        provider: "p",
        chat: "+31612345678",
        reason: "Re-engagement message (code 131047)"
      })
    )
    expect(claiming(answer(200, { error: { code: 987654, message: "Something new" } }))).toEqual(
      new MessagingError.InvalidMessage({
        provider: "p",
        field: "body",
        status: 200,
        reason: "rejected in a 200 answer: Something new (code 987654)"
      })
    )
  })

  it("the outcomes fail over where another provider may succeed: misconfiguration does, a bad message does not", () => {
    const outcomes: ReadonlyArray<readonly [ErrorTable.Outcome, boolean, boolean]> = [
      ["invalid", false, false],
      ["unsupported", false, true],
      ["misconfigured", false, true],
      ["rateLimited", true, true],
      ["windowClosed", false, false],
      ["recipientUnavailable", false, false],
      ["unavailable", true, true],
      ["deliveryUnknown", false, false]
    ]
    for (const [outcome, retry, failover] of outcomes) {
      const error = ErrorTable.toError(outcome, answer(400, {}), "why")
      expect([outcome, MessagingError.isRetryable(error), MessagingError.canFailover(error)]).toEqual([
        outcome,
        retry,
        failover
      ])
    }
  })
})

describe("MetaError", () => {
  // Graph API error bodies as Meta sends them (shapes from public reports of real answers; numbers
  // and ids made up): the wrong-id error has a subcode and no error_data, policy blocks come as 403 or 400.
  const graph = (error: Record<string, unknown>) => ({ error: { fbtrace_id: "AQb3xR9Yk2LmN0pQ", ...error } })
  const wrongId = graph({
    message:
      "Unsupported post request. Object with ID '109876543210987' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
    type: "GraphMethodException",
    code: 100,
    error_subcode: 33
  })
  const blocked = graph({
    message: "(#368) Temporarily blocked for policies violations",
    type: "OAuthException",
    code: 368,
    error_data: { messaging_product: "whatsapp", details: "The account was restricted for violating a policy." }
  })
  const invalidParameter = graph({
    message: "(#100) Invalid parameter",
    type: "OAuthException",
    code: 100,
    error_data: { messaging_product: "whatsapp", details: "Parameter 'to' is not a valid phone number" }
  })

  it("a wrong phone-number id (100 with subcode 33) and a blocked account (368) are the account's: Unauthorized, whatever the status", () => {
    for (const status of [400, 403, 404, 500]) {
      expect(MetaError.classify(answer(status, wrongId))).toMatchObject({
        _tag: "Unauthorized",
        status,
        reason: expect.stringContaining("does not exist, cannot be loaded due to missing permissions")
      })
      expect(MetaError.classify(answer(status, blocked))).toMatchObject({
        _tag: "Unauthorized",
        reason: "(#368) Temporarily blocked for policies violations (code 368)"
      })
    }
    // Code 100 without that subcode is a parameter of the message.
    expect(MetaError.classify(answer(400, invalidParameter))?._tag).toBe("InvalidMessage")
  })

  it("Meta's table: the account's codes fail over, the message's and the recipient's do not", () => {
    const cases: ReadonlyArray<readonly [number, MessagingError.MessagingError["_tag"]]> = [
      [0, "Unauthorized"],
      [3, "Unauthorized"],
      [10, "Unauthorized"],
      [33, "Unauthorized"],
      [190, "Unauthorized"],
      [200, "Unauthorized"],
      [299, "Unauthorized"],
      [368, "Unauthorized"],
      [130497, "Unauthorized"],
      [131031, "Unauthorized"],
      [131037, "Unauthorized"],
      [131042, "Unauthorized"],
      [131045, "Unauthorized"],
      [133010, "Unauthorized"],
      [4, "RateLimited"],
      [80007, "RateLimited"],
      [130429, "RateLimited"],
      [131048, "RateLimited"],
      [131056, "RateLimited"],
      [131047, "WindowClosed"],
      [131026, "RecipientUnavailable"],
      [131021, "RecipientUnavailable"],
      [131049, "RecipientUnavailable"],
      [131050, "RecipientUnavailable"],
      [130472, "RecipientUnavailable"],
      [1, "ProviderUnavailable"],
      [2, "ProviderUnavailable"],
      [131000, "ProviderUnavailable"],
      [131016, "ProviderUnavailable"],
      [131057, "ProviderUnavailable"],
      [133004, "ProviderUnavailable"],
      [100, "InvalidMessage"],
      [131008, "InvalidMessage"],
      [131009, "InvalidMessage"],
      [131051, "InvalidMessage"],
      [131052, "InvalidMessage"],
      [131053, "InvalidMessage"],
      [132000, "InvalidMessage"],
      [132001, "InvalidMessage"],
      [132015, "InvalidMessage"],
      [132016, "InvalidMessage"],
      [135000, "InvalidMessage"]
    ]
    for (const [code, tag] of cases) {
      const error = MetaError.classify(answer(400, graph({ message: `error ${code}`, type: "OAuthException", code })))
      expect([code, error?._tag]).toEqual([code, tag])
    }
    // Unknown codes: the status decides.
    expect(MetaError.classify(answer(503, graph({ message: "new", code: 999999 })))?._tag).toBe("ProviderUnavailable")
  })
})
