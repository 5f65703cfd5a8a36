/**
 * The simulator: a WhatsApp-like page where a person chats with the bot as one or more users, sees
 * ticks move, sends photos, and switches providers into failure to watch failover and the breaker.
 *
 * The page is static (public/); it gets a snapshot and then live updates over server-sent events, and
 * acts through a small JSON API.
 */
import { ChatId, Failover } from "@parley/core"
import { FakeNetwork } from "@parley/testing"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import type { HttpServerError } from "effect/http/HttpServerError"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
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

const NewUser = Schema.Struct({ phone: Schema.String, name: Schema.NonEmptyString.check(Schema.isTrimmed()) })
const NewMessage = Schema.Struct({
  chat: Schema.String,
  text: Schema.optional(Schema.String),
  photo: Schema.optional(Schema.Boolean),
  /** The message this one answers: a choice's option tapped as a button. */
  replyTo: Schema.optional(Schema.String),
  /** The provider to write through (default: the first that can carry users' messages and is not down). */
  via: Schema.optional(Schema.String)
})
const NewMode = Schema.Struct({ mode: Schema.Literals(Providers.modes) })

const json = (body: unknown, status = 200) => HttpServerResponse.jsonUnsafe(body, { status })
const badRequest = (error: string) => json({ error }, 400)

// A request the simulator cannot read is the page's (or a script's) mistake: a 400 saying so.
const orBadRequest = <R>(
  handler: Effect.Effect<HttpServerResponse.HttpServerResponse, HttpServerError | Schema.SchemaError, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R> =>
  handler.pipe(
    Effect.catchTags({
      SchemaError: (error) => Effect.succeed(badRequest(`invalid request: ${error.message}`)),
      HttpServerError: () => Effect.succeed(badRequest("the request body could not be read"))
    })
  )

/**
 * The simulator's routes, as a layer of `HttpRouter` routes (serve it next to the webhook routes).
 * `base` is the server's own URL (for media links).
 */
export const make = (options: {
  readonly base: string
  readonly providers: ReadonlyArray<Providers.Provider>
}): Layer.Layer<never, never, HttpRouter.HttpRouter | FakeNetwork.FakeNetwork | Failover.Failover> =>
  HttpRouter.use(Effect.fnUntraced(function*(router) {
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
    yield* PubSub.take(events).pipe(
      Effect.flatMap((event) =>
        PubSub.publish(
          hub,
          event._tag === "StatusChanged"
            ? { type: "status", id: event.message.id, status: event.message.status }
            : { type: "message", message: toUi(event.message) }
        )
      ),
      Effect.andThen(
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
      return yield* Result.match(ChatId.parse(body.phone), {
        onFailure: (error) => Effect.succeed(badRequest(error.message)),
        onSuccess: (chat) =>
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
      if (Result.isFailure(chat)) return badRequest(chat.failure.message)
      if (!body.photo && !body.text?.trim()) return badRequest("write a message or send a photo")
      const answered = body.replyTo === undefined ? Option.none() : yield* network.find(body.replyTo)
      const via = inboundVia(Option.match(answered, { onNone: () => body.via, onSome: (m) => m.provider }))
      if (via === undefined) return json({ error: "every provider is down: nobody can deliver your message" }, 503)
      const message = yield* network.userSends({
        from: chat.success,
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

    yield* router.addAll([
      HttpRouter.route("GET", "/", file("index.html", "text/html; charset=utf-8")),
      HttpRouter.route("GET", "/app.js", file("app.js", "text/javascript; charset=utf-8")),
      HttpRouter.route("GET", "/style.css", file("style.css", "text/css; charset=utf-8")),
      HttpRouter.route("GET", "/media/clinic.png", file("clinic.png", "image/png")),
      HttpRouter.route("GET", "/media/upload.png", file("upload.png", "image/png")),
      HttpRouter.route("GET", "/api/state", Effect.map(snapshot, (s) => json(s))),
      HttpRouter.route("GET", "/api/events", sse),
      HttpRouter.route("POST", "/api/users", orBadRequest(addUser)),
      HttpRouter.route("POST", "/api/messages", orBadRequest(sendMessage)),
      HttpRouter.route("POST", "/api/providers/:name/mode", orBadRequest(setMode))
    ])
  }))
