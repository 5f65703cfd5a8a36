import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { BotPenguin, BotPenguinWebhook } from "@parley/botpenguin"
import * as BotPenguinEmulator from "@parley/botpenguin/emulator"
import { ChatId, Message, MessagingService } from "@parley/core"
import { FakeNetwork, Faults, WebhookReceiver } from "@parley/testing"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"

const user = ChatId.phone("+31612345678")
const apiKey = "bp_7c1e0f9a3d5b4e2a8f6c0d1b9e7a5c3f"
const sendMessage = "/whatsapp-automation/wa/send-message"
const sendTemplate = "/whatsapp-automation/wa/send-template"

const Env = Layer.merge(FakeNetwork.layer({ autoAck: false }), NodeHttpClient.layerUndici)

const setup = (
  options: {
    readonly key?: string
    readonly emulator?: BotPenguinEmulator.Options
    readonly client?: Partial<BotPenguin.Options>
  } = {}
) =>
  Effect.gen(function*() {
    const emulator = yield* BotPenguinEmulator.make({ apiKey, ...options.emulator })
    const context = yield* Layer.build(
      BotPenguin.layer({
        baseUrl: `${emulator.url}/`,
        apiKey: Redacted.make(options.key ?? apiKey),
        retry: false,
        ...options.client
      })
    )
    const network = yield* FakeNetwork.FakeNetwork
    return { emulator, network, client: Context.get(context, MessagingService.MessagingService) }
  })

// Settings read from these environment variables only.
const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

const split = (url: string) => {
  const parsed = new URL(url, "http://emulator")
  return { path: parsed.pathname, query: Object.fromEntries(parsed.searchParams) }
}

// A client that answers every request itself, to see the URL it would call.
const recording = (answer: () => Response) => {
  const seen: Array<string> = []
  const client = HttpClient.make((request, url) =>
    Effect.sync(() => {
      seen.push(url.toString())
      return HttpClientResponse.fromWeb(request, answer())
    })
  )
  return { seen, layer: Layer.succeed(HttpClient.HttpClient, client) }
}

describe("BotPenguin client", () => {
  it.live("sends each kind to its documented endpoint, with the key in the query and the headers", () =>
    Effect.gen(function*() {
      const { client, emulator, network } = yield* setup()
      const receipts = [
        yield* client.send(Message.text(user, "Hi")),
        yield* client.send(Message.image(user, { url: "https://cdn.example/x.png", caption: "X" })),
        yield* client.send(Message.document(user, { url: "https://cdn.example/r.pdf", caption: "Report" })),
        yield* client.send(Message.document(user, { url: "https://cdn.example/plain.pdf", filename: "Plain.pdf" })),
        yield* client.send(Message.template(user, {
          name: "65f1c0ffee",
          variables: ["Ada", "Monday"],
          headerMedia: { kind: "image", url: "https://cdn.example/h.jpg" }
        })),
        yield* client.send(Message.template(user, {
          name: "invoice",
          headerMedia: { kind: "document", url: "https://cdn.example/i.pdf", filename: "Invoice.pdf" }
        })),
        yield* client.send(Message.template(user, { name: "hello_world", language: "en" }))
      ]
      const requests = yield* emulator.requests
      expect(requests.map((r) => `${r.method} ${split(r.url).path}`)).toEqual([
        ...Array(4).fill(`POST ${sendMessage}`),
        ...Array(3).fill(`POST ${sendTemplate}`)
      ])
      for (const request of requests) {
        expect(split(request.url).query).toEqual({ apiKey })
        expect(request.headers.apikey).toBe(apiKey)
        expect(request.headers.authtype).toBe("Key")
        expect(request.headers["content-type"]).toBe("application/json")
      }
      const who = { userName: "+31612345678", wa_id: "31612345678" }
      expect(requests.map((r) => r.body)).toEqual([
        { ...who, type: "text", message: { text: "Hi" } },
        { ...who, type: "image", message: { source: "https://cdn.example/x.png", label: "X", type: "image" } },
        {
          ...who,
          type: "document",
          message: { source: "https://cdn.example/r.pdf", label: "Report", type: "document" }
        },
        { ...who, type: "document", message: { source: "https://cdn.example/plain.pdf", type: "document" } },
        {
          ...who,
          templateId: "65f1c0ffee",
          params: [
            { type: "header", parameters: [{ type: "image", image: { link: "https://cdn.example/h.jpg" } }] },
            { type: "body", parameters: [{ type: "text", text: "Ada" }, { type: "text", text: "Monday" }] }
          ]
        },
        {
          ...who,
          templateId: "invoice",
          params: [{
            type: "header",
            parameters: [{
              type: "document",
              document: { link: "https://cdn.example/i.pdf", filename: "Invoice.pdf" }
            }]
          }]
        },
        { ...who, templateId: "hello_world", params: [] }
      ])
      for (const receipt of receipts) {
        expect(receipt).toMatchObject({ provider: "botpenguin", status: "accepted" })
        expect(receipt.messageId).toMatch(/^wamid\./)
        expect(Option.isSome(yield* network.find(receipt.messageId))).toBe(true)
      }
      expect(Option.map(yield* network.find(receipts[4]!.messageId), (m) => m.content)).toEqual(
        Option.some({ kind: "template", name: "65f1c0ffee", variables: ["Ada", "Monday"] })
      )
    }).pipe(Effect.provide(Env)))

  it.live("userName is the number by default, a fixed name, or one per recipient; tags go with every send", () =>
    Effect.gen(function*() {
      const names = new Map([["31612345678", "Ada Lovelace"]])
      const perRecipient = yield* setup({ client: { userName: (to) => names.get(to.id) ?? "Customer" } })
      yield* perRecipient.client.send(Message.text(user, "Hi"))
      yield* perRecipient.client.send(Message.text(ChatId.phone("+4915112345678"), "Hallo"))
      expect((yield* perRecipient.emulator.requests).map((r) => r.body)).toMatchObject([
        { userName: "Ada Lovelace", wa_id: "31612345678" },
        { userName: "Customer", wa_id: "4915112345678" }
      ])

      const fixed = yield* setup({ client: { userName: "Clinic patient", tags: ["parley", "reminders"] } })
      yield* fixed.client.send(Message.template(user, { name: "reminder" }))
      expect((yield* fixed.emulator.requests)[0]!.body).toEqual({
        userName: "Clinic patient",
        wa_id: "31612345678",
        tags: ["parley", "reminders"],
        templateId: "reminder",
        params: []
      })
    }).pipe(Effect.provide(Env)))

  it.effect("calls api.v7.botpenguin.com unless given a white-label baseUrl", () =>
    Effect.gen(function*() {
      const ok = () => new Response(JSON.stringify({ messages: [{ id: "wamid.X" }] }), { status: 200 })
      const public_ = recording(ok)
      const send = (options: Partial<BotPenguin.Options>) =>
        Effect.flatMap(
          Layer.build(BotPenguin.layer({ apiKey: Redacted.make("k"), retry: false, ...options })),
          (context) => Context.get(context, MessagingService.MessagingService).send(Message.text(user, "Hi"))
        )
      yield* send({}).pipe(Effect.provide(public_.layer))
      expect(public_.seen).toEqual(["https://api.v7.botpenguin.com/whatsapp-automation/wa/send-message?apiKey=k"])

      const whiteLabel = recording(ok)
      yield* send({ baseUrl: "https://api-v7.express-chat.com/" }).pipe(Effect.provide(whiteLabel.layer))
      expect(whiteLabel.seen).toEqual(["https://api-v7.express-chat.com/whatsapp-automation/wa/send-message?apiKey=k"])
    }))

  it.live("groups, channels and LIDs are Unsupported, with no request", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup()
      for (const to of ["120363025246125486@g.us", "120363144038483540@newsletter", "82818372739202@lid"]) {
        const error = yield* Effect.flip(client.send(Message.text(Result.getOrThrow(ChatId.parse(to)), "Team update")))
        expect(error).toMatchObject({ _tag: "Unsupported", provider: "botpenguin" })
        expect(error.message).toContain("chats")
      }
      expect(yield* Effect.flip(client.send(Message.video(user, { url: "https://cdn.example/v.mp4" })))).toMatchObject({
        _tag: "Unsupported"
      })
      expect(yield* emulator.requests).toEqual([])
    }).pipe(Effect.provide(Env)))

  it.live("classifies Meta error objects by code before the status", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup()
      const send = Effect.flip(client.send(Message.text(user, "hi")))
      const meta = (code: number, message: string) => ({
        error: { message, type: "WhatsAppBusinessApiError", code, fbtrace_id: "AbC" }
      })

      yield* emulator.faults.next(1, Faults.respond(400, meta(130429, "Rate limit hit")))
      expect(yield* send).toMatchObject({ _tag: "RateLimited", status: 400 })

      yield* emulator.faults.next(1, Faults.respond(429, meta(131056, "Pair rate limit hit"), { "retry-after": "3" }))
      const pair = yield* send
      expect(pair).toMatchObject({ _tag: "RateLimited", status: 429 })
      if (pair._tag === "RateLimited") expect(pair.retryAfter).toEqual(Duration.seconds(3))

      yield* emulator.faults.next(1, Faults.respond(400, meta(131047, "Re-engagement message")))
      expect(yield* send).toMatchObject({ _tag: "WindowClosed", chat: "+31612345678" })

      yield* emulator.faults.next(1, Faults.respond(400, meta(131026, "Message undeliverable")))
      expect(yield* send).toMatchObject({ _tag: "RecipientUnavailable", chat: "+31612345678" })

      yield* emulator.faults.next(1, Faults.respond(401, meta(190, "Invalid OAuth access token")))
      expect(yield* send).toMatchObject({ _tag: "Unauthorized", status: 401 })

      yield* emulator.faults.next(1, Faults.respond(400, meta(100, "(#100) Invalid parameter")))
      expect(yield* send).toMatchObject({ _tag: "InvalidMessage", status: 400 })

      yield* emulator.faults.next(1, Faults.respond(500, meta(131000, "Something went wrong")))
      expect(yield* send).toMatchObject({ _tag: "ProviderUnavailable", status: 500 })

      // Without a Meta error object, the status decides.
      yield* emulator.faults.next(1, Faults.respond(403, { message: "Plan expired" }))
      expect(yield* send).toMatchObject({ _tag: "Unauthorized", status: 403, reason: "Plan expired" })

      yield* emulator.faults.next(1, Faults.respond(400, { message: "wa_id is required" }))
      expect(yield* send).toMatchObject({ _tag: "InvalidMessage", field: "body", status: 400 })

      yield* emulator.faults.next(1, Faults.respond(502, "<html>Bad gateway</html>"))
      expect(yield* send).toMatchObject({ _tag: "ProviderUnavailable", status: 502 })

      // A 2xx carrying a Meta error object is no acceptance.
      yield* emulator.faults.next(1, Faults.respond(200, meta(131047, "Re-engagement message")))
      expect(yield* send).toMatchObject({ _tag: "WindowClosed" })

      yield* emulator.faults.next(1, Faults.respond(200, meta(987654, "Something new")))
      expect(yield* send).toMatchObject({ _tag: "InvalidMessage", status: 200 })

      // What Meta says of the account, relayed, is the account's: it fails over (issue 24).
      yield* emulator.faults.next(
        1,
        Faults.respond(400, meta(368, "(#368) Temporarily blocked for policies violations"))
      )
      expect(yield* send).toMatchObject({ _tag: "Unauthorized", status: 400 })
      yield* emulator.faults.next(
        1,
        Faults.respond(400, {
          error: {
            message:
              "Unsupported post request. Object with ID '109876543210987' does not exist, cannot be loaded due to missing permissions, or does not support this operation.",
            type: "GraphMethodException",
            code: 100,
            error_subcode: 33,
            fbtrace_id: "AbC"
          }
        })
      )
      expect(yield* send).toMatchObject({ _tag: "Unauthorized", status: 400 })
    }).pipe(Effect.provide(Env)))

  it.live("maps the emulator's own refusals: not on WhatsApp, closed window, unknown templates", () =>
    Effect.gen(function*() {
      const { client, network } = yield* setup({
        emulator: { enforceWindow: true, templates: { reminder: 1 } }
      })
      const closed = yield* Effect.flip(client.send(Message.text(user, "hi")))
      expect(closed).toMatchObject({ _tag: "WindowClosed", chat: "+31612345678" })
      // Templates are what reaches a chat outside the window.
      yield* client.send(Message.template(user, { name: "reminder", variables: ["Ada"] }))
      yield* network.userSends({ from: user, to: FakeNetwork.defaultBusiness, content: { kind: "text", text: "ok" } })
      expect((yield* client.send(Message.text(user, "hi"))).status).toBe("accepted")

      expect(yield* Effect.flip(client.send(Message.template(user, { name: "nope" })))).toMatchObject({
        _tag: "InvalidMessage",
        status: 400
      })
      expect(yield* Effect.flip(client.send(Message.template(user, { name: "reminder" })))).toMatchObject({
        _tag: "InvalidMessage",
        status: 400
      })

      yield* network.unregister(user)
      expect(yield* Effect.flip(client.send(Message.template(user, { name: "reminder", variables: ["Ada"] }))))
        .toMatchObject({ _tag: "RecipientUnavailable", chat: "+31612345678" })
    }).pipe(Effect.provide(Env)))

  it.live("reads the message id from any plausible answer; without one the receipt carries a local id", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup()
      const answers: ReadonlyArray<readonly [unknown, string | undefined]> = [
        [{ messaging_product: "whatsapp", messages: [{ id: "wamid.META" }] }, "wamid.META"],
        [{ success: true, messageId: "msg_1" }, "msg_1"],
        [{ message_id: 42 }, "42"],
        [{ id: "6650f00d" }, "6650f00d"],
        [{ success: true, data: { id: "d_1" } }, "d_1"],
        [{ result: { messages: [{ id: "wamid.NESTED" }] } }, "wamid.NESTED"],
        [{ success: true, message: "Message sent successfully" }, undefined],
        [{ messages: [] }, undefined],
        ["OK", undefined]
      ]
      for (const [body, id] of answers) {
        yield* emulator.faults.next(1, Faults.respond(200, body))
        const receipt = yield* client.send(Message.text(user, "hi"))
        expect(receipt.status).toBe("accepted")
        if (id === undefined) expect(receipt.messageId).toMatch(/^botpenguin-local-[0-9a-f-]{36}$/)
        else expect(receipt.messageId).toBe(id)
      }
    }).pipe(Effect.provide(Env)))

  it.live("a configured success body without an id still sends, under a local receipt id", () =>
    Effect.gen(function*() {
      const { client, network } = yield* setup({ emulator: { responseBody: () => ({ success: true }) } })
      const receipt = yield* client.send(Message.text(user, "hi"))
      expect(receipt.messageId.startsWith(BotPenguin.localIdPrefix)).toBe(true)
      const sent = yield* network.messages
      expect(sent.map((m) => m.content)).toEqual([{ kind: "text", text: "hi" }])
    }).pipe(Effect.provide(Env)))

  it.effect("layerConfig reads PARLEY_BOTPENGUIN_* settings", () =>
    Effect.gen(function*() {
      const options = yield* BotPenguin.config
      expect(options.baseUrl).toBe("https://api.v7.express-chat.com")
      expect(Redacted.value(options.apiKey)).toBe("k")
      expect(options.userName).toBe("Customer")
      expect(options.tags).toEqual(["parley", "notify"])
      expect(options.rateLimit).toEqual({ perSecond: 5, burst: 10 })
      expect(String(options.apiKey)).not.toContain("k")
    }).pipe(
      withEnv({
        PARLEY_BOTPENGUIN_BASE_URL: "https://api.v7.express-chat.com",
        PARLEY_BOTPENGUIN_API_KEY: "k",
        PARLEY_BOTPENGUIN_USER_NAME: "Customer",
        PARLEY_BOTPENGUIN_TAGS: "parley,notify",
        PARLEY_BOTPENGUIN_RATE_LIMIT: "5",
        PARLEY_BOTPENGUIN_RATE_LIMIT_BURST: "10"
      })
    ))

  it.effect("layerConfig defaults to the public host and names a missing key", () =>
    Effect.gen(function*() {
      const options = yield* BotPenguin.config.pipe(
        withEnv({ PARLEY_BOTPENGUIN_API_KEY: "k" })
      )
      expect(options).toMatchObject({ baseUrl: BotPenguin.defaultBaseUrl, userName: undefined, tags: undefined })
      expect(options.rateLimit).toBeUndefined()
      const error = yield* Effect.flip(BotPenguin.config).pipe(
        withEnv({})
      )
      expect(String(error)).toContain("PARLEY_BOTPENGUIN_API_KEY")
    }))
})

describe("BotPenguin webhook", () => {
  const request = {
    headers: { "content-type": "application/json" },
    query: {},
    pathToken: undefined,
    body: new TextEncoder().encode(JSON.stringify({ object: "whatsapp_business_account", entry: [] }))
  }

  it.effect("refuses every request: BotPenguin documents no webhooks", () =>
    Effect.gen(function*() {
      const handler = yield* BotPenguinWebhook.makeConfig().pipe(
        withEnv({})
      )
      expect(handler.provider).toBe("botpenguin")
      const refused = yield* Effect.flip(handler.verify(request))
      expect(refused).toMatchObject({ _tag: "WebhookError", status: 401, provider: "botpenguin" })
      expect(refused.reason).toContain("documents no webhooks")
      expect(yield* Effect.flip(handler.decode(request))).toMatchObject({ status: 400 })
    }))

  it.live("a mounted endpoint answers 401 and yields no event", () =>
    Effect.gen(function*() {
      const receiver = yield* WebhookReceiver.make(BotPenguinWebhook.make())
      const response = yield* Effect.promise(() =>
        fetch(receiver.url, { method: "POST", headers: request.headers, body: request.body }).then(async (r) => ({
          status: r.status,
          body: await r.json() as { readonly error: string }
        }))
      )
      expect(response.status).toBe(401)
      expect(response.body.error).toContain("send-only")
      expect(yield* Queue.size(receiver.events)).toBe(0)
      expect((yield* receiver.rejections).map((r) => r.status)).toEqual([401])
    }))
})

describe("BotPenguin emulator", () => {
  type Answer = { readonly status: number; readonly body: Record<string, any> }
  const post = (
    url: string,
    body: unknown,
    auth: { readonly query?: string; readonly header?: string } = { query: apiKey, header: apiKey }
  ) =>
    Effect.promise((): Promise<Answer> =>
      fetch(`${url}${auth.query === undefined ? "" : `?apiKey=${encodeURIComponent(auth.query)}`}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(auth.header === undefined ? {} : { apiKey: auth.header })
        },
        body: typeof body === "string" ? body : JSON.stringify(body)
      }).then(async (r) => ({ status: r.status, body: await r.json() as Answer["body"] }))
    )
  const text = { userName: "Ada", wa_id: "31612345678", type: "text", message: { text: "hi" } }

  it.live("takes the key from the query or the header, and refuses with Meta's code 190", () =>
    Effect.gen(function*() {
      const { emulator } = yield* setup()
      const url = `${emulator.url}${sendMessage}`
      expect((yield* post(url, text, { query: apiKey })).status).toBe(200)
      expect((yield* post(url, text, { header: apiKey })).status).toBe(200)
      const missing = yield* post(url, text, {})
      expect(missing).toMatchObject({ status: 401, body: { error: { code: 190, type: "OAuthException" } } })
      expect(missing.body.error.message).toContain("missing")
      expect(yield* post(url, text, { query: apiKey, header: "wrong" })).toMatchObject({
        status: 401,
        body: { error: { code: 190, message: "Invalid API key" } }
      })
    }).pipe(Effect.provide(Env)))

  it.live("validates send-message bodies and answers Meta's #100 naming the field", () =>
    Effect.gen(function*() {
      const { emulator } = yield* setup()
      const url = `${emulator.url}${sendMessage}`
      const details = (answer: Answer) => {
        expect(answer).toMatchObject({ status: 400, body: { error: { code: 100 } } })
        return answer.body.error.error_data.details as string
      }
      expect(details(yield* post(url, { ...text, wa_id: "+31612345678" }))).toMatch(/^wa_id: must be the number's/)
      expect(details(yield* post(url, { ...text, type: "video" }))).toMatch(/^type: /)
      expect(details(yield* post(url, { ...text, message: { text: "x".repeat(4097) } }))).toBe(
        "message.text: must be at most 4096 characters"
      )
      expect(details(yield* post(url, { ...text, message: {} }))).toBe("message.text: is required for type text")
      expect(details(yield* post(url, { ...text, userName: "" }))).toBe("userName: must not be empty")
      const image = { ...text, type: "image", message: { source: "https://cdn.example/x.png", type: "image" } }
      expect(details(yield* post(url, { ...image, message: { label: "X" } }))).toBe(
        "message.source: is required for type image"
      )
      expect(details(yield* post(url, { ...image, message: { source: "ftp://cdn.example/x.png" } }))).toBe(
        "message.source: must be an http(s) URL"
      )
      expect(details(yield* post(url, { ...image, message: { ...image.message, label: "c".repeat(1025) } }))).toBe(
        "message.label: must be at most 1024 characters"
      )
      expect(details(yield* post(url, { ...image, message: { ...image.message, type: "document" } }))).toBe(
        "message.type: must repeat the outer type (image)"
      )
      expect(details(yield* post(url, "{not json"))).toBe("malformed JSON body")

      const ok = yield* post(url, image)
      expect(ok.status).toBe(200)
      expect(ok.body).toMatchObject({
        messaging_product: "whatsapp",
        contacts: [{ input: "31612345678", wa_id: "31612345678" }],
        messages: [{ message_status: "accepted" }]
      })
      expect(ok.body.messages[0].id).toMatch(/^wamid\.HBgL/)
    }).pipe(Effect.provide(Env)))

  it.live("records templates by id with their body variables, and checks their parameters", () =>
    Effect.gen(function*() {
      const { emulator, network } = yield* setup({ emulator: { templates: { "65f1c0ffee": 2 } } })
      const url = `${emulator.url}${sendTemplate}`
      const template = { userName: "Ada", wa_id: "31612345678", templateId: "65f1c0ffee" }
      const ok = yield* post(url, {
        ...template,
        params: [
          { type: "header", parameters: [{ type: "video", video: { link: "https://cdn.example/v.mp4" } }] },
          { type: "body", parameters: [{ type: "text", text: "Ada" }, { type: "text", text: "Monday" }] }
        ]
      })
      expect(ok.status).toBe(200)
      expect(Option.map(yield* network.find(ok.body.messages[0].id), (m) => m.content)).toEqual(
        Option.some({ kind: "template", name: "65f1c0ffee", variables: ["Ada", "Monday"] })
      )
      expect(yield* post(url, { ...template, params: [] })).toMatchObject({
        status: 400,
        body: { error: { code: 132000 } }
      })
      expect(yield* post(url, { ...template, templateId: "unknown", params: [] })).toMatchObject({
        status: 400,
        body: { error: { code: 132001 } }
      })
      expect(
        yield* post(url, {
          ...template,
          params: [{ type: "body", parameters: [{ type: "image", image: { link: "https://cdn.example/x.png" } }] }]
        })
      ).toMatchObject({ status: 400, body: { error: { code: 132012 } } })
      expect(yield* post(url, { ...template, params: [{ type: "footer", parameters: [] }] })).toMatchObject({
        status: 400,
        body: { error: { code: 100 } }
      })
    }).pipe(Effect.provide(Env)))

  it.live("answers Meta 131026 for a number not on WhatsApp, with the configured status", () =>
    Effect.gen(function*() {
      const { emulator, network } = yield* setup({ emulator: { errorStatus: 422 } })
      yield* network.unregister(user)
      expect(yield* post(`${emulator.url}${sendMessage}`, text)).toMatchObject({
        status: 422,
        body: { error: { code: 131026, message: "Message undeliverable" } }
      })
      expect(yield* network.messages).toEqual([])
    }).pipe(Effect.provide(Env)))
})
