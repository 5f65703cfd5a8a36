/**
 * The HTTP endpoint providers post webhooks to: `POST /webhooks/<provider>` (and
 * `/webhooks/<provider>/<token>` for providers verified by a URL token), `GET` on the same paths for
 * providers that verify the endpoint first (Meta's `hub.challenge`, answered by the handler's
 * `challenge`), plus `GET /health`.
 *
 * Per request: the body is read once, raw, up to a size cap (413 past it, whether the declared
 * `Content-Length` or the chunks received pass it); the provider's handler verifies it (401) and
 * decodes it; the events are written to the durable inbox, duplicates dropped in the same
 * transaction; only then does it answer 200. A verified delivery is answered 2xx whatever its
 * shape: the handler keeps what it can read (a message whose content it cannot read is handed on as
 * `UnavailableContent`) and logs what it skips, because a 4xx makes providers deliver again and then
 * drop the event. The 4xx left are for what no genuine delivery is: a bad signature or token (401), a
 * body that is not JSON or nests deeper than `ProviderWebhook.maxJsonDepth` (400) and an oversized body
 * (413). A database failure answers 503 so the provider delivers again. Nothing crashes the server.
 *
 * Failures of Parley's own code are answered as the table above says too, never with a 5xx for what a
 * provider sent: a handler whose verification dies is a 401 (nothing unverified is kept), one whose
 * decoding of a verified delivery dies is a 200 with nothing kept (as a part that cannot be read), and
 * an inbox that dies is a 503.
 *
 * Logging: every failure is logged once: a rejected request (a warning naming the problem), events
 * that could not be stored (an error), a handler that failed unexpectedly (an error with its cause),
 * and, with {@link layerHttpServer}, a connection Node closed before a request was complete (a
 * warning: a timeout or a request that is not HTTP). Accepted deliveries, health checks and 404s are
 * not logged. {@link layer}
 * serves the routes with `HttpRouter.serve`'s access log turned off (`disableLogger`): it logs every
 * request, which costs 20-27% of a webhook request's CPU time in Parley's measurements, floods the
 * logs at provider volume and repeats each rejection already logged here. Traces still cover every
 * request (`WebhookServer.receive`). Serving {@link app} yourself, pass `disableLogger: true` to
 * `HttpRouter.serve` for the same. The routes carrying a URL token declare it a redacted parameter,
 * so an access log or server span that is enabled records `/webhooks/<provider>/REDACTED`.
 *
 * Timeouts: a public endpoint must not let a client hold a connection by sending its request slowly
 * (Node waits 300 s for a body by default). {@link layerHttpServer} (which {@link layer} uses) sets
 * Node's: the headers must arrive within 10 s and the whole request within 30 s (answered 408, the
 * connection closed), and an idle kept-alive connection closes after 5 s; {@link Timeouts} changes
 * them. Providers send a webhook in one go and give up on their own side within 10-20 s. Behind a load
 * balancer that keeps connections to the bot open, make `keepAlive` longer than the balancer's idle
 * timeout (AWS ALB's is 60 s), or the bot closes connections the balancer is about to reuse.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as NodeServices from "@effect/platform-node/NodeServices"
import * as ByteSize from "effect/ByteSize"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Etag from "effect/http/Etag"
import * as HttpIncomingMessage from "effect/http/HttpIncomingMessage"
import * as HttpMiddleware from "effect/http/HttpMiddleware"
import type * as HttpPlatform from "effect/http/HttpPlatform"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServer from "effect/http/HttpServer"
import type { HttpServerError, ServeError } from "effect/http/HttpServerError"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Http from "node:http"
import type * as Net from "node:net"
import * as Inbox from "./Inbox.js"
import * as Webhook from "./Webhook.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** One handler per provider, mounted at `/webhooks/<handler.provider>`. */
  readonly handlers: ReadonlyArray<Webhook.WebhookHandler>
  /** The largest body accepted (default 1 MB). */
  readonly maxBodyBytes?: number | undefined
}

const json = (status: number, body: Record<string, unknown>) => HttpServerResponse.jsonUnsafe(body, { status })

const queryOf = (url: string): Record<string, string> =>
  url.includes("?") ? Object.fromEntries(new URL(url, "http://localhost").searchParams) : {}

const rejected = (error: Webhook.WebhookError, what: string) =>
  Effect.as(
    Effect.logWarning(`${what} rejected: ${error.message}`),
    json(error.status, { error: error.reason, provider: error.provider })
  )

const failed = (defect: unknown) =>
  Effect.as(
    Effect.logError("webhook request failed unexpectedly", defect),
    json(500, { error: "the request could not be handled" })
  )

// A handler's own failure, logged with its cause and the provider, and turned into the answer the
// module documentation gives for it.
const died =
  <A>(provider: string, what: string, outcome: Effect.Effect<A, Webhook.WebhookError>) => (defect: unknown) =>
    Effect.andThen(
      Effect.annotateLogs(
        Effect.logError(`${provider} webhook: ${what} failed unexpectedly`, defect),
        "webhook.provider",
        provider
      ),
      outcome
    )

/**
 * The webhook and health routes, as a layer of `HttpRouter` routes (serve it with
 * `HttpRouter.serve`, alongside other route layers if you have some). The `Inbox` is taken from the
 * context the layer is built in.
 *
 * @example
 * ```ts
 * import { type Inbox, type Webhook, WebhookServer } from "@parley/core"
 * import { HttpMiddleware, HttpRouter, HttpServerResponse } from "effect/http"
 * import { Layer } from "effect"
 *
 * declare const handlers: ReadonlyArray<Webhook.WebhookHandler>
 * declare const InboxLive: Layer.Layer<Inbox.Inbox>
 *
 * const Status = HttpRouter.add("GET", "/status", HttpServerResponse.text("up"))
 *
 * // Webhooks next to an app's own routes, served as `WebhookServer.layer` serves them (add
 * // `WebhookServer.layerHttpServer({ port })` for the port and Node's timeouts).
 * const Server = HttpRouter.serve(Layer.mergeAll(WebhookServer.app({ handlers }), Status), {
 *   disableLogger: true
 * }).pipe(
 *   Layer.provide(Layer.succeed(HttpMiddleware.TracerDisabledWhen)(WebhookServer.tracerDisabledWhen)),
 *   Layer.provide(InboxLive)
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const app = (options: Options): Layer.Layer<never, never, HttpRouter.HttpRouter | Inbox.Inbox> =>
  HttpRouter.use(Effect.fnUntraced(function*(router) {
    const inbox = yield* Inbox.Inbox
    const handlers = new Map(options.handlers.map((handler) => [handler.provider, handler]))
    const maxBytes = options.maxBodyBytes ?? 1024 * 1024
    const maxBodySize = ByteSize.bytes(maxBytes)

    // The body read once, raw, as the signature covers it; past the cap the read fails and the
    // platform closes the connection after the 413 is sent.
    const readBody = (request: HttpServerRequest.HttpServerRequest, provider: string) =>
      request.arrayBuffer.pipe(
        Effect.provideService(HttpIncomingMessage.MaxBodySize, maxBodySize),
        Effect.map((buffer) => new Uint8Array(buffer)),
        Effect.mapError((error: HttpServerError) =>
          error.reason._tag === "RequestParseError" && error.reason.reason === "BodyTooLarge"
            ? new Webhook.WebhookError({ provider, status: 413, reason: `body exceeds the ${maxBytes}-byte limit` })
            : new Webhook.WebhookError({ provider, status: 400, reason: "the body could not be read" })
        )
      )

    const receive = Effect.gen(function*() {
      const params = yield* HttpRouter.params
      const provider = params.provider ?? ""
      yield* Effect.annotateCurrentSpan({
        "webhook.provider": provider,
        // Never the path token itself: it is the provider's credential.
        "url.path": params.token === undefined ? `/webhooks/${provider}` : `/webhooks/${provider}/<token>`
      })
      const handler = handlers.get(provider)
      if (handler === undefined) return json(404, { error: `no webhook is configured for provider "${provider}"` })
      const request = yield* HttpServerRequest.HttpServerRequest
      const headers = request.headers
      const declared = Number(headers["content-length"] ?? "0")
      if (declared > maxBytes) {
        return yield* new Webhook.WebhookError({
          provider,
          status: 413,
          reason: `body of ${declared} bytes exceeds the ${maxBytes}-byte limit`
        })
      }
      const raw: Webhook.WebhookRequest = {
        headers,
        query: queryOf(request.url),
        pathToken: params.token,
        body: yield* readBody(request, provider)
      }
      yield* handler.verify(raw).pipe(
        Effect.catchDefect(died(
          provider,
          "verification",
          Effect.fail(new Webhook.WebhookError({ provider, status: 401, reason: "the delivery could not be verified" }))
        ))
      )
      const events = yield* handler.decode(raw).pipe(
        Effect.catchDefect(died(provider, "decoding a verified delivery (nothing of it is kept)", Effect.succeed([])))
      )
      const { accepted, duplicates } = yield* inbox.enqueue(events).pipe(
        Effect.catchDefect(died(
          provider,
          "storing its events",
          Effect.fail(
            new Webhook.WebhookError({
              provider,
              status: 503,
              reason: "the events could not be stored; deliver again later"
            })
          )
        ))
      )
      yield* Effect.annotateCurrentSpan({ "webhook.accepted": accepted, "webhook.duplicates": duplicates })
      return json(200, { status: "ok", accepted, duplicates })
    }).pipe(
      Effect.catchTags({
        WebhookError: (error) => rejected(error, "webhook"),
        SqlError: (error) =>
          Effect.as(
            Effect.logError("webhook events could not be stored", error),
            json(503, { error: "the events could not be stored; deliver again later" })
          )
      }),
      Effect.catchDefect(failed),
      Effect.withSpan("WebhookServer.receive")
    )

    // Providers that verify the endpoint before posting to it (Meta's `hub.challenge`) send a GET.
    const challenge = Effect.gen(function*() {
      const params = yield* HttpRouter.params
      const provider = params.provider ?? ""
      const handler = handlers.get(provider)
      if (handler?.challenge === undefined) {
        return json(404, { error: `no verification request is configured for provider "${provider}"` })
      }
      const request = yield* HttpServerRequest.HttpServerRequest
      const answer = yield* handler.challenge({
        headers: request.headers,
        query: queryOf(request.url),
        pathToken: params.token,
        body: new Uint8Array()
      })
      return HttpServerResponse.text(answer)
    }).pipe(
      Effect.catchTag("WebhookError", (error) => rejected(error, "webhook verification")),
      Effect.catchDefect(failed),
      Effect.withSpan("WebhookServer.challenge")
    )

    const health = inbox.pendingCount.pipe(
      Effect.map((pending) => json(200, { status: "ok", pending })),
      Effect.catch(() => Effect.succeed(json(503, { status: "unavailable", error: "database unreachable" })))
    )

    // Anything else gets an answer that says where webhooks go (matched last: routes are specific first).
    const notFound = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.succeed(json(404, {
        error: `no route for ${request.method} ${
          new URL(request.url, "http://localhost").pathname
        }: webhooks are posted to /webhooks/<provider>`
      }))

    // The token is the provider's credential: routes carrying it record the path without it.
    const withToken = { redactedParams: ["token"] }
    yield* router.addAll([
      HttpRouter.route("POST", "/webhooks/:provider", receive),
      HttpRouter.route("POST", "/webhooks/:provider/:token", receive, withToken),
      HttpRouter.route("GET", "/webhooks/:provider", challenge),
      HttpRouter.route("GET", "/webhooks/:provider/:token", challenge, withToken),
      HttpRouter.route("GET", "/health", health),
      HttpRouter.route("*", "*", notFound)
    ])
  }))

/**
 * Whether the platform's `http.server` span must be left out for a request: it records the full URL,
 * and a webhook URL may carry the provider's secret token in its path or query. Such requests are
 * traced by the `WebhookServer.receive` span instead, which records the path with the token
 * replaced. {@link layer} applies it; serving {@link app} yourself, provide it as
 * `Layer.succeed(HttpMiddleware.TracerDisabledWhen)(WebhookServer.tracerDisabledWhen)`.
 *
 * @since 0.1.0
 * @category tracing
 */
export const tracerDisabledWhen = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const url = new URL(request.url, "http://localhost")
  return url.pathname.startsWith("/webhooks/") && (url.pathname.split("/").length > 3 || url.search !== "")
}

/**
 * Node's timeouts for a public endpoint (see the module documentation).
 *
 * @since 0.1.0
 * @category models
 */
export interface Timeouts {
  /** How long the request line and headers may take to arrive (default 10 s). */
  readonly headers?: Duration.Input | undefined
  /** How long the whole request, headers and body, may take to arrive (default 30 s; at least `headers`). */
  readonly request?: Duration.Input | undefined
  /** How long a kept-alive connection may stay idle between requests (default 5 s). */
  readonly keepAlive?: Duration.Input | undefined
}

/**
 * The timeouts {@link layerHttpServer} sets unless told otherwise.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultTimeouts = { headers: "10 seconds", request: "30 seconds", keepAlive: "5 seconds" } as const

/**
 * Where and how {@link layerHttpServer} listens.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerOptions {
  readonly port: number
  /** Default 127.0.0.1. */
  readonly host?: string | undefined
  readonly timeouts?: Timeouts | undefined
  /** How long a stopping server waits for requests in flight (default 20 s). */
  readonly gracefulShutdownTimeout?: Duration.Input | undefined
}

const millis = (input: Duration.Input) => Duration.toMillis(Duration.fromInputUnsafe(input))

// What Node answers a connection whose request it gave up on, had no `clientError` listener been set.
const clientErrorResponse = (code: string | undefined) => {
  const status = code === "ERR_HTTP_REQUEST_TIMEOUT"
    ? 408
    : code === "HPE_HEADER_OVERFLOW"
    ? 431
    : code === "HPE_CHUNK_EXTENSIONS_OVERFLOW"
    ? 413
    : 400
  return { status, raw: `HTTP/1.1 ${status} ${Http.STATUS_CODES[status]}\r\nConnection: close\r\n\r\n` }
}

// A peer that went away has nothing left to answer or to report.
const gone = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED"])

/**
 * A Node HTTP server with the {@link Timeouts} set (and checked every second at most), logging every
 * connection Node closes before its request is complete through `log`.
 */
const makeNodeServer = (timeouts: Timeouts | undefined, log: (message: string) => void): Http.Server => {
  const headers = millis(timeouts?.headers ?? defaultTimeouts.headers)
  const request = Math.max(headers, millis(timeouts?.request ?? defaultTimeouts.request))
  const server = Http.createServer({
    headersTimeout: headers,
    requestTimeout: request,
    keepAliveTimeout: millis(timeouts?.keepAlive ?? defaultTimeouts.keepAlive),
    // Node checks the two timeouts above every 30 s by default: a 10 s timeout could then take 40.
    connectionsCheckingInterval: Math.min(1000, Math.max(10, Math.floor(headers / 4)))
  })
  server.on("clientError", (error: Error & { readonly code?: string }, socket: Net.Socket) => {
    if (!gone.has(error.code ?? "")) {
      const { raw, status } = clientErrorResponse(error.code)
      log(
        error.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? `webhook connection closed (${status}): the request did not arrive in full within ${request} ms (headers ${headers} ms)`
          : `webhook connection closed (${status}): ${error.code ?? "malformed request"}: ${error.message}`
      )
      // As Node does: answer only when nothing of a response was written yet.
      const response = (socket as Net.Socket & { readonly _httpMessage?: { readonly headersSent?: boolean } })
        ._httpMessage
      if (socket.writable && response?.headersSent !== true) socket.write(raw)
    }
    socket.destroy(error)
  })
  return server
}

/**
 * The Node HTTP server to serve {@link app} on, as `NodeHttpServer.layer` gives it, with the
 * {@link Timeouts} a public webhook endpoint needs and a warning logged for each connection Node closes
 * before its request is complete (the request too slow, or not HTTP). {@link layer} uses it; serving
 * {@link app} with your own routes, provide it in place of `NodeHttpServer.layer(createServer, …)`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHttpServer = (
  options: ServerOptions
): Layer.Layer<
  HttpServer.HttpServer | NodeServices.NodeServices | HttpPlatform.HttpPlatform | Etag.Generator,
  ServeError
> =>
  Layer.unwrap(Effect.map(Effect.context<never>(), (context) => {
    const log = (message: string) => Effect.runForkWith(context)(Effect.logWarning(message))
    return NodeHttpServer.layer(() => makeNodeServer(options.timeouts, log), {
      port: options.port,
      host: options.host ?? "127.0.0.1",
      ...(options.gracefulShutdownTimeout === undefined
        ? {}
        : { gracefulShutdownTimeout: options.gracefulShutdownTimeout })
    })
  }))

/**
 * Serves the webhook routes on `host:port` (default 127.0.0.1; port 0 picks a free one), with
 * {@link tracerDisabledWhen} applied, the router's per-request access log off (see the module
 * documentation) and Node's {@link Timeouts} set ({@link layerHttpServer}). Also provides the
 * `HttpServer`, whose `address` tells the port chosen.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options & ServerOptions
): Layer.Layer<HttpServer.HttpServer, ServeError, Inbox.Inbox> =>
  HttpRouter.serve(app(options), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provide(Layer.succeed(HttpMiddleware.TracerDisabledWhen)(tracerDisabledWhen)),
    Layer.provideMerge(layerHttpServer(options))
  )
