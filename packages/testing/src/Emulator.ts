/**
 * What every provider emulator shares: a real HTTP server on a free loopback port (scoped: it stops
 * with its scope), a log of the requests it received, fault injection in front of the provider's
 * routes, a switch to take it down (connections refused) and bring it back, the outbound side (turning
 * fake-network events into the provider's webhooks), and the pieces routes are made of: the bearer
 * check, JSON bodies decoded with the provider's `Schema`s, and endpoints answered with them.
 * {@link router} makes an emulator's routes (`HttpRouter.route(...)`s and {@link endpoint}s) into its
 * app; {@link make} serves it and puts the rest together into the {@link Emulator} record every
 * emulator returns.
 *
 * @example
 * ```ts
 * export const make: Emulator.Constructor<Options, MyEmulator> = (options = {}) =>
 *   Effect.gen(function*() {
 *     const app = yield* Emulator.router([
 *       Emulator.endpoint(Api.sendText, route, (body) => deliver(body)),
 *       HttpRouter.route("GET", "/v1/messages/status/:uuid", getStatus)
 *     ])
 *     const base = yield* Emulator.make({ provider, business, app, port: options.port })
 *     return { ...base, apiKey }
 *   })
 * ```
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type { ChatId } from "@parley/core"
import { HttpTransport, WireSchema } from "@parley/core/provider"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServerError from "effect/http/HttpServerError"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Multipart from "effect/http/Multipart"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as FakeNetwork from "./FakeNetwork.js"
import * as Faults from "./Faults.js"

/**
 * A request an emulator received.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordedRequest {
  readonly method: string
  /** The path and query string. */
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  /** JSON when the body parses as JSON, else the text. */
  readonly body: unknown
}

/**
 * What the shared conformance suite and tests need of any emulator.
 *
 * @since 0.1.0
 * @category models
 */
export interface Emulator {
  readonly provider: string
  /** The base URL to give the provider's client. */
  readonly url: string
  /** The number it sends as. */
  readonly business: ChatId.ChatId
  readonly faults: Faults.Faults
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** Stops listening: new connections are refused until {@link up}. */
  readonly down: Effect.Effect<void>
  readonly up: Effect.Effect<void>
  /** Where to post webhooks (`undefined`: nowhere). */
  readonly setWebhookUrl: (url: string | undefined) => Effect.Effect<void>
}

/**
 * The requests an emulator received, in order.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestLog {
  readonly record: (request: RecordedRequest) => void
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
}

/**
 * An empty log, for emulators that record requests themselves (to record a multipart body as its
 * parts, say) and pass it to {@link serve} or {@link make}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const requestLog = (): RequestLog => {
  const log: Array<RecordedRequest> = []
  return { record: (request) => void log.push(request), requests: Effect.sync(() => [...log]) }
}

/**
 * A running HTTP server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Server {
  readonly url: string
  readonly port: number
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  readonly down: Effect.Effect<void>
  readonly up: Effect.Effect<void>
}

const listen = (server: Http.Server, port: number) =>
  Effect.callback<number, Error>((resume) => {
    const onError = (error: Error) => resume(Effect.fail(error))
    server.once("error", onError)
    server.listen(port, "127.0.0.1", () => {
      server.off("error", onError)
      resume(Effect.succeed((server.address() as AddressInfo).port))
    })
  })

const close = (server: Http.Server) =>
  Effect.callback<void>((resume) => {
    if (!server.listening) return resume(Effect.void)
    server.close(() => resume(Effect.void))
    server.closeAllConnections()
  })

/**
 * Answers the request being handled as `fault` says, with `app` as what handling it normally means: a
 * `Respond` is answered with its status, body and headers; a `Delay` waits, then runs `app`; a `Drop`
 * destroys the connection (after running `app`, ignoring its outcome, when `processed`). {@link serve}
 * applies `Faults` this way; an emulator can apply a fault of its own script the same way.
 *
 * @since 0.1.0
 * @category faults
 */
export const applyFault = <E, R>(
  fault: Faults.Fault,
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest> => {
  switch (fault._tag) {
    case "Respond":
      return Effect.succeed(HttpServerResponse.jsonUnsafe(fault.body, {
        status: fault.status,
        headers: fault.headers ?? {}
      }))
    case "Delay":
      return Effect.andThen(Effect.sleep(fault.duration), app)
    case "Drop":
      return Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        if (fault.processed) yield* Effect.ignore(app)
        NodeHttpServerRequest.toIncomingMessage(request).socket.destroy()
        return HttpServerResponse.empty({ status: 500 })
      })
  }
}

/**
 * Serves `app` on 127.0.0.1 (a free port unless `port` is given) with request recording and `faults`
 * applied before the app sees a request. The server stops when the scope closes. `app` answers the
 * request in context: an emulator's {@link router}, or any effect that makes an `HttpServerResponse`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const serve = <E, R>(options: {
  readonly app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
  readonly faults: Faults.Faults
  readonly port?: number | undefined
  /**
   * Where requests are recorded. Absent: each request is recorded with its body read as text (the
   * platform caches it, so the app can read it again). Given: the app records requests itself, as it
   * reads them (a multipart body as its parts, say).
   */
  readonly log?: RequestLog | undefined
}): Effect.Effect<Server, never, Scope.Scope | Exclude<R, HttpServerRequest.HttpServerRequest | Scope.Scope>> =>
  Effect.gen(function*() {
    const log = options.log ?? requestLog()
    const recording = options.log === undefined
    const app = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (recording) {
        const text = yield* Effect.orElseSucceed(request.text, () => "")
        log.record({
          method: request.method,
          url: request.url,
          headers: request.headers,
          body: HttpTransport.parseBody(text)
        })
      }
      const fault = yield* options.faults.take
      return yield* Option.isNone(fault) ? options.app : applyFault(fault.value, options.app)
    })
    // Interruptible, as routes are: a client that goes away, or the server closing, stops a handler
    // (a `Delay`, say) rather than waiting for it.
    const handler = yield* NodeHttpServer.makeHandler(Effect.interruptible(app), { scope: yield* Effect.scope })
    const server = Http.createServer(handler)
    const port = yield* Effect.orDie(listen(server, options.port ?? 0))
    yield* Effect.addFinalizer(() => close(server))
    return {
      url: `http://127.0.0.1:${port}`,
      port,
      requests: log.requests,
      down: close(server),
      up: Effect.orDie(Effect.asVoid(Effect.suspend(() => server.listening ? Effect.void : listen(server, port))))
    }
  })

/**
 * A webhook post an emulator wants to make.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebhookPost {
  /** The exact bytes to send (signatures are over them). */
  readonly body: string
  readonly headers: Readonly<Record<string, string>>
}

/**
 * Follows the fake network and posts, one at a time and in order, the webhooks `toWebhook` makes of
 * its events (none, one, or several for one event), to the URL `target` returns at that moment. Failed
 * posts are retried a few times, as providers do, then dropped with a log line. Runs for the life of the
 * scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const forwardEvents = (options: {
  readonly provider: string
  readonly network: FakeNetwork.Service
  readonly target: Effect.Effect<string | undefined>
  readonly toWebhook: (event: FakeNetwork.NetworkEvent) => Effect.Effect<ReadonlyArray<WebhookPost>>
}): Effect.Effect<void, never, Scope.Scope | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    // Each post owns its connection until it is answered.
    const client = HttpClient.withScope(yield* HttpClient.HttpClient)
    const events = yield* options.network.subscribe
    const post = (url: string, webhook: WebhookPost) =>
      client.execute(
        HttpClientRequest.post(url).pipe(
          HttpClientRequest.setHeaders(webhook.headers),
          HttpClientRequest.bodyText(webhook.body, "application/json")
        )
      ).pipe(
        Effect.flatMap((response) =>
          response.status >= 200 && response.status < 300 || response.status >= 400 && response.status < 500
            ? Effect.void
            : Effect.fail(new Error(`webhook answered ${response.status}`))
        ),
        Effect.scoped,
        Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.upTo({ times: 3 }))),
        Effect.catch((error) => Effect.logWarning(`${options.provider} emulator: webhook to ${url} failed`, error))
      )
    yield* PubSub.take(events).pipe(
      Effect.flatMap((event) =>
        Effect.flatMap(options.target, (url) =>
          url === undefined
            ? Effect.void
            : Effect.flatMap(options.toWebhook(event), (posts) => Effect.forEach(posts, (w) => post(url, w))))
      ),
      Effect.forever,
      Effect.forkScoped
    )
  })

/**
 * An emulator's refusal: the response to send instead of carrying the request out.
 *
 * @since 0.1.0
 * @category routing
 */
export class Reject extends Schema.TaggedError<Reject>()("Reject", {
  status: Schema.Number,
  body: Schema.Unknown,
  headers: Schema.optional(Schema.Record(Schema.String, Schema.String))
}) {}

const isReject = (error: unknown): error is Reject => error instanceof Reject

/**
 * Runs a route handler, answering a {@link Reject} with its status and body.
 *
 * @since 0.1.0
 * @category routing
 */
export const handle = <E, R>(
  handler: Effect.Effect<HttpServerResponse.HttpServerResponse, Reject | E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, Exclude<E, Reject>, R> =>
  Effect.catchIf(
    handler,
    isReject,
    (reject) =>
      Effect.succeed(
        HttpServerResponse.jsonUnsafe(reject.body, { status: reject.status, headers: reject.headers ?? {} })
      )
  ) as Effect.Effect<HttpServerResponse.HttpServerResponse, Exclude<E, Reject>, R>

/**
 * Reads the request body as JSON and decodes it with `schema`; malformed JSON or a wrong shape is a
 * 400 whose body `describe` writes from the reason (`to: is missing`), and from the problem (its path
 * and message) when the JSON was read but did not fit `schema`.
 *
 * @since 0.1.0
 * @category routing
 */
export const decodeJson = <A, I, RD>(
  schema: Schema.Codec<A, I, RD>,
  describe: (reason: string, problem?: WireSchema.Problem) => unknown
): Effect.Effect<A, Reject, HttpServerRequest.HttpServerRequest | RD> => {
  const decode = Schema.decodeUnknownEffect(schema)
  return Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const text = yield* Effect.orElseSucceed(request.text, () => "")
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      return yield* new Reject({ status: 400, body: describe("malformed JSON body") })
    }
    return yield* decode(json, { errors: "first", reportInput: true }).pipe(
      Effect.mapError((error) =>
        new Reject({
          status: 400,
          body: describe(WireSchema.describeIssue(error.issue), WireSchema.firstProblem(error.issue))
        })
      )
    )
  })
}

/**
 * Query and JSON body fields merged into one record (query wins), for providers that accept
 * parameters in either place.
 *
 * @since 0.1.0
 * @category routing
 */
export const requestParams: Effect.Effect<Record<string, unknown>, never, HttpServerRequest.HttpServerRequest> = Effect
  .gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const body = HttpTransport.parseBody(yield* Effect.orElseSucceed(request.text, () => ""))
    const query = Object.fromEntries(new URL(request.url, "http://localhost").searchParams)
    return { ...(typeof body === "object" && body !== null && !Array.isArray(body) ? body : {}), ...query }
  })

/**
 * The bearer token of the request being handled, if it has one.
 *
 * @since 0.1.0
 * @category routing
 */
export const bearerToken: Effect.Effect<Option.Option<string>, never, HttpServerRequest.HttpServerRequest> = Effect
  .map(
    HttpServerRequest.HttpServerRequest,
    (request) => Option.fromNullishOr(/^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? "")?.[1])
  )

/**
 * Checks `Authorization: Bearer <token>`: the provider's refusal for a request without one, or with
 * another.
 *
 * @since 0.1.0
 * @category routing
 */
export const checkBearer = (token: string, refuse: {
  readonly missing: () => Reject
  readonly invalid: () => Reject
}): Effect.Effect<void, Reject, HttpServerRequest.HttpServerRequest> =>
  Effect.flatMap(bearerToken, (given) =>
    Option.isNone(given)
      ? Effect.fail(refuse.missing())
      : given.value === token
      ? Effect.void
      : Effect.fail(refuse.invalid()))

/**
 * An emulator's routes as one app, to give {@link make} (or {@link serve}) as `app`: `routes` are
 * `HttpRouter.route(method, path, handler)`s and {@link endpoint}s, matched by method and path
 * (`/chats/:jid/messages`; read parameters with `HttpRouter.params`). A request no route matches fails
 * with an `HttpServerError` whose reason is `RouteNotFound`, answered 404. Build it in the emulator's
 * scope.
 *
 * @example
 * ```ts
 * const app = yield* Emulator.router([
 *   HttpRouter.route("POST", "/v1/messages/send", sendMessage),
 *   HttpRouter.route("GET", "/v1/messages/status/:uuid", getStatus),
 *   Emulator.endpoint(Api.sendText, route, (body) => deliver(body))
 * ])
 * const base = yield* Emulator.make({ provider, business, app })
 * ```
 *
 * @since 0.1.0
 * @category routing
 */
export const router = <const Routes extends ReadonlyArray<HttpRouter.Route<any, any>>>(
  routes: Routes
): Effect.Effect<
  Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    HttpRouter.Route.Error<Routes[number]> | HttpServerError.HttpServerError,
    HttpRouter.Route.Context<Routes[number]> | HttpServerRequest.HttpServerRequest | Scope.Scope
  >,
  never,
  Scope.Scope
> => HttpRouter.toHttpEffect(HttpRouter.addAll(routes)) as any

/**
 * Serves one of the provider's endpoints (declared in its Api module with `HttpTransport.endpoint`):
 * runs `guard` (the auth check), decodes the JSON body with the endpoint's request `Schema` (a malformed
 * or mis-shaped body is a 400 whose body `invalid` writes from the reason), runs `handler`, and answers
 * with what it returns, encoded by the endpoint's response `Schema`, so the emulator speaks exactly the
 * format the client decodes. A {@link Reject} is answered as it says. A route for {@link router}.
 *
 * @since 0.1.0
 * @category routing
 */
export const endpoint = <A, I, R, RI, E, Req>(
  endpoint: HttpTransport.Endpoint<A, I, R, RI>,
  options: {
    readonly guard: Effect.Effect<void, Reject, HttpServerRequest.HttpServerRequest>
    readonly invalid: (reason: string) => unknown
  },
  handler: (body: A) => Effect.Effect<R, Reject | E, Req>
): HttpRouter.Route<Exclude<E, Reject>, Exclude<Req, HttpRouter.Provided>> => {
  const encode = Schema.encodeEffect(endpoint.response)
  const body: Effect.Effect<A, Reject, HttpServerRequest.HttpServerRequest> = endpoint.request === undefined
    ? Effect.succeed(undefined as A)
    : decodeJson(endpoint.request, options.invalid)
  return HttpRouter.route(
    endpoint.method,
    endpoint.path,
    handle(
      options.guard.pipe(
        Effect.andThen(body),
        Effect.flatMap(handler),
        Effect.flatMap((answer) => Effect.orDie(encode(answer))),
        Effect.map((encoded) => HttpServerResponse.jsonUnsafe(encoded))
      )
    )
  )
}

/**
 * The record every emulator returns, and extends with what is its own.
 *
 * @since 0.1.0
 * @category models
 */
export interface Base extends Emulator {
  readonly server: Server
}

/**
 * Starts an emulator: serves `app` (its {@link router}) on a free loopback port (or `port`) with fault
 * injection and request recording, and posts `toWebhook`'s webhooks for the fake network's events to
 * the URL set by `setWebhookUrl` (initially `webhookUrl`). `url` makes the base URL clients get from
 * the server's (`(url) => `${url}/v1`` where the real API has a path prefix).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <E, R>(options: {
  readonly provider: string
  readonly business: ChatId.ChatId
  readonly app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
  readonly port?: number | undefined
  readonly log?: RequestLog | undefined
  readonly url?: ((serverUrl: string) => string) | undefined
  readonly webhookUrl?: string | undefined
  readonly toWebhook?: ((event: FakeNetwork.NetworkEvent) => Effect.Effect<ReadonlyArray<WebhookPost>>) | undefined
}): Effect.Effect<
  Base,
  never,
  | Scope.Scope
  | FakeNetwork.FakeNetwork
  | HttpClient.HttpClient
  | Exclude<R, HttpServerRequest.HttpServerRequest | Scope.Scope>
> =>
  Effect.gen(function*() {
    const faults = yield* Faults.make
    const server = yield* serve({ app: options.app, faults, port: options.port, log: options.log })
    let webhookUrl = options.webhookUrl
    if (options.toWebhook !== undefined) {
      yield* forwardEvents({
        provider: options.provider,
        network: yield* FakeNetwork.FakeNetwork,
        target: Effect.sync(() => webhookUrl),
        toWebhook: options.toWebhook
      })
    }
    return {
      provider: options.provider,
      url: options.url === undefined ? server.url : options.url(server.url),
      business: options.business,
      faults,
      requests: server.requests,
      down: server.down,
      up: server.up,
      setWebhookUrl: (url) => Effect.sync(() => void (webhookUrl = url)),
      server
    }
  })

/**
 * What starts a provider's emulator from its options.
 *
 * @since 0.1.0
 * @category models
 */
export type Constructor<Options, A extends Emulator> = (
  options?: Options
) => Effect.Effect<A, never, Scope.Scope | FakeNetwork.FakeNetwork | HttpClient.HttpClient>

/**
 * An emulator as a layer, for tests and apps: `layer(tag, make)(options)`. Each call makes a new layer,
 * so each starts its own emulator; one layer provided twice is built once (Effect memoizes layers
 * across `Effect.provide`): wrap it in `Layer.fresh` for a second emulator.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <Options, A extends Emulator, I>(tag: Context.Key<I, A>, make: Constructor<Options, A>) =>
(
  options?: Options
): Layer.Layer<I, never, FakeNetwork.FakeNetwork | HttpClient.HttpClient> => Layer.effect(tag, make(options))

/**
 * A file part of a multipart body.
 *
 * @since 0.1.0
 * @category multipart
 */
export interface UploadedFile {
  readonly key: string
  readonly name: string
  readonly contentType: string
  readonly content: Uint8Array
}

/**
 * A multipart body's text fields and files.
 *
 * @since 0.1.0
 * @category multipart
 */
export interface Upload {
  readonly fields: Readonly<Record<string, string>>
  readonly files: ReadonlyArray<UploadedFile>
}

/**
 * Reads a `multipart/form-data` body from its raw bytes (read whole, so an oversized body can be
 * answered cleanly). Every part with a file name is a file, whatever its type, as servers in Go and
 * Meta's Graph API read them.
 *
 * @since 0.1.0
 * @category multipart
 */
export const readMultipart = (
  bytes: Uint8Array,
  headers: Readonly<Record<string, string>>
): Effect.Effect<Upload, Multipart.MultipartError> =>
  Stream.succeed(bytes).pipe(
    Stream.pipeThroughChannel(Multipart.makeChannel<never>({ ...headers })),
    Stream.mapEffect((
      part
    ): Effect.Effect<Multipart.Field | (UploadedFile & { readonly _tag: "File" }), Multipart.MultipartError> =>
      part._tag === "Field"
        ? Effect.succeed(part)
        : Effect.map(part.contentEffect, (content): UploadedFile & { readonly _tag: "File" } => ({
          _tag: "File",
          key: part.key,
          name: part.name,
          contentType: part.contentType,
          content
        }))
    ),
    Stream.runFold((): Upload => ({ fields: {}, files: [] }), (upload, part): Upload =>
      part._tag === "Field"
        ? { ...upload, fields: { ...upload.fields, [part.key]: part.value } }
        : { ...upload, files: [...upload.files, part] }),
    // Every named part is a file, JSON ones too.
    Effect.provideService(Multipart.FieldMimeTypes, [])
  )
