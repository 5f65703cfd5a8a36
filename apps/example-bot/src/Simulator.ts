/**
 * The simulator: a WhatsApp-like page where a person chats with the bot as one or more users, sees
 * ticks move, sends photos, and switches providers into failure to watch failover and the breaker.
 *
 * The page is static (public/); it gets a snapshot and then live updates over server-sent events, and
 * acts through a small JSON API.
 */
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import { ChatId, Failover } from "@parley/core"
import { FakeNetwork } from "@parley/testing"
import * as Effect from "effect/Effect"
import * as Either from "effect/Result"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as Providers from "./Providers.js"

const publicDir = fileURLToPath(new URL("../public/", import.meta.url))
const asset = (name: string) => readFileSync(`${publicDir}${name}`)

/** A message as the page shows it. */
export interface UiMessage {
  readonly id: string
  readonly chat: string
  readonly direction: "in" | "out"
  readonly provider: string
  readonly status: string
  readonly at: number
  readonly content: FakeNetwork.Content
  readonly replyTo?: string | undefined
}

const toUi = (message: FakeNetwork.NetworkMessage): UiMessage => ({
  id: message.id,
  chat: message.chat.toString(),
  direction: message.direction === "inbound" ? "in" : "out",
  provider: message.provider,
  status: message.status,
  at: message.at,
  content: message.content,
  replyTo: message.replyTo
})

const NewUser = Schema.Struct({ phone: Schema.String, name: Schema.NonEmptyTrimmedString })
const NewMessage = Schema.Struct({
  chat: Schema.String,
  text: Schema.optional(Schema.String),
  photo: Schema.optional(Schema.Boolean),
  /** The message this one answers: a choice's option tapped as a button. */
  replyTo: Schema.optional(Schema.String),
  /** The provider to write through (default: the first that can carry users' messages and is not down). */
  via: Schema.optional(Schema.String)
})
const NewMode = Schema.Struct({ mode: Schema.Literal(...Providers.modes) })

const json = (body: unknown, status = 200) => HttpServerResponse.unsafeJson(body, { status })
const badRequest = (error: string) => json({ error }, 400)

/**
 * The simulator's routes. `base` is the server's own URL (for media links).
 */
export const make = (options: {
  readonly base: string
  readonly providers: ReadonlyArray<Providers.Provider>
}): Effect.Effect<
  HttpRouter.HttpRouter<never, never>,
  never,
  Scope.Scope | FakeNetwork.FakeNetwork | Failover.Failover
> =>
  Effect.gen(function*() {
    const network = yield* FakeNetwork.FakeNetwork
    const { members } = yield* Failover.Failover
    const users = new Map<string, string>([
      [ChatId.phone("+31612345678").toString(), "Ada Lovelace"],
      [ChatId.phone("+14155550123").toString(), "Grace Hopper"]
    ])
    const modes = new Map<string, Providers.Mode>(options.providers.map((p) => [p.name, "ok"]))
    const hub = yield* Effect.acquireRelease(PubSub.unbounded<unknown>(), PubSub.shutdown)

    // Users write through the provider they pick, else the first whose webhooks carry what they write
    // (not the Multisession gateway's) and that is not down: a provider failing its sends still delivers
    // its webhooks. A tapped option goes back through the provider that showed the buttons.
    const inbound = options.providers.filter((p) => Option.isSome(p.emulator) && p.capabilities.inboundMessages)
    const up = (name: string | undefined) => inbound.find((p) => p.name === name && modes.get(p.name) !== "down")?.name
    const inboundVia = (preferred: string | undefined) =>
      up(preferred) ?? inbound.find((p) => modes.get(p.name) !== "down")?.name

    const providerState = Effect.forEach(members, (member) => {
      const provider = options.providers.find((p) => p.name === member.service.provider)!
      return Effect.all({ state: member.breaker.state, counts: member.breaker.counts }).pipe(
        Effect.map(({ counts, state }) => ({
          name: provider.name,
          role: provider.role,
          emulated: Option.isSome(provider.emulator),
          mode: Option.isSome(provider.emulator) ? modes.get(provider.name) : "real",
          breaker: state._tag,
          successes: counts.successes,
          failures: counts.failures,
          rejected: counts.rejected
        }))
      )
    })

    const snapshot = Effect.gen(function*() {
      return {
        type: "snapshot",
        business: FakeNetwork.defaultBusiness.toString(),
        users: [...users].map(([chat, name]) => ({ chat, name })),
        writers: inbound.map((p) => p.name),
        messages: (yield* network.messages).map(toUi),
        providers: yield* providerState
      }
    })

    // Every network event and every breaker change becomes a page update.
    const events = yield* network.subscribe
    yield* Queue.take(events).pipe(
      Effect.flatMap((event) =>
        PubSub.publish(
          hub,
          event._tag === "StatusChanged"
            ? { type: "status", id: event.message.id, status: event.message.status }
            : { type: "message", message: toUi(event.message) }
        )
      ),
      Effect.zipRight(
        Effect.flatMap(providerState, (providers) => PubSub.publish(hub, { type: "providers", providers }))
      ),
      Effect.forever,
      Effect.forkScoped
    )
    yield* Effect.forEach(members, (member) =>
      member.breaker.changes.pipe(
        Stream.runForEach(() =>
          Effect.flatMap(providerState, (providers) => PubSub.publish(hub, { type: "providers", providers }))
        ),
        Effect.forkScoped
      ))

    const encoder = new TextEncoder()
    const sse = Effect.gen(function*() {
      const first = yield* snapshot
      const updates = Stream.fromPubSub(hub)
      const body = Stream.concat(Stream.make(first), updates).pipe(
        Stream.map((event) => encoder.encode(`data: ${JSON.stringify(event)}\n\n`))
      )
      return HttpServerResponse.stream(body, {
        contentType: "text/event-stream",
        headers: { "cache-control": "no-cache", connection: "keep-alive" }
      })
    })

    const addUser = Effect.gen(function*() {
      const body = yield* HttpServerRequest.schemaBodyJson(NewUser)
      return yield* Either.match(ChatId.parse(body.phone), {
        onLeft: (error) => Effect.succeed(badRequest(error.message)),
        onRight: (chat) =>
          Effect.gen(function*() {
            users.set(chat.toString(), body.name)
            yield* PubSub.publish(hub, { type: "user", user: { chat: chat.toString(), name: body.name } })
            return json({ chat: chat.toString(), name: body.name })
          })
      })
    })

    const sendMessage = Effect.gen(function*() {
      const body = yield* HttpServerRequest.schemaBodyJson(NewMessage)
      const chat = ChatId.parse(body.chat)
      if (Either.isLeft(chat)) return badRequest(chat.left.message)
      if (!body.photo && !body.text?.trim()) return badRequest("write a message or send a photo")
      const answered = body.replyTo === undefined ? Option.none() : yield* network.find(body.replyTo)
      const via = inboundVia(Option.match(answered, { onNone: () => body.via, onSome: (m) => m.provider }))
      if (via === undefined) return json({ error: "every provider is down: nobody can deliver your message" }, 503)
      const message = yield* network.userSends({
        from: chat.right,
        to: FakeNetwork.defaultBusiness,
        via,
        replyTo: body.replyTo,
        content: body.photo
          ? { kind: "image", url: `${options.base}/media/upload.png`, mimeType: "image/png", caption: body.text ?? "" }
          : { kind: "text", text: body.text!.trim() }
      })
      return json(toUi(message))
    })

    const setMode = Effect.gen(function*() {
      const { name } = yield* HttpRouter.params
      const provider = options.providers.find((p) => p.name === name)
      if (provider === undefined) return json({ error: `no provider ${name}` }, 404)
      if (Option.isNone(provider.emulator)) return json({ error: `${name} is a real API: it cannot be switched` }, 409)
      const { mode } = yield* HttpServerRequest.schemaBodyJson(NewMode)
      yield* Providers.setMode(provider.emulator.value, mode)
      modes.set(provider.name, mode)
      const providers = yield* providerState
      yield* PubSub.publish(hub, { type: "providers", providers })
      return json({ providers })
    })

    const file = (name: string, contentType: string) =>
      Effect.sync(() => HttpServerResponse.uint8Array(asset(name), { contentType }))

    return HttpRouter.empty.pipe(
      HttpRouter.get("/", file("index.html", "text/html; charset=utf-8")),
      HttpRouter.get("/app.js", file("app.js", "text/javascript; charset=utf-8")),
      HttpRouter.get("/style.css", file("style.css", "text/css; charset=utf-8")),
      HttpRouter.get("/media/clinic.png", file("clinic.png", "image/png")),
      HttpRouter.get("/media/upload.png", file("upload.png", "image/png")),
      HttpRouter.get("/api/state", Effect.map(snapshot, (s) => json(s))),
      HttpRouter.get("/api/events", sse),
      HttpRouter.post("/api/users", addUser),
      HttpRouter.post("/api/messages", sendMessage),
      HttpRouter.post("/api/providers/:name/mode", setMode),
      HttpRouter.catchTags({
        ParseError: (error) => Effect.succeed(badRequest(`invalid request: ${error.message}`)),
        RequestError: () => Effect.succeed(badRequest("the request body could not be read"))
      })
    )
  })
