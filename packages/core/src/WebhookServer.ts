/**
 * The HTTP endpoint providers post webhooks to: `POST /webhooks/<provider>` (and
 * `/webhooks/<provider>/<token>` for providers verified by a URL token), `GET` on the same paths for
 * providers that verify the endpoint first (Meta's `hub.challenge`, answered by the handler's
 * `challenge`), plus `GET /health`.
 *
 * Per request: the body is read once, raw, up to a size cap (413 past it); the provider's handler
 * verifies it (401) and decodes it; the events are written to the durable inbox, duplicates dropped in
 * the same transaction; only then does it answer 200. A verified delivery is answered 2xx whatever its
 * shape: the handler keeps what it can read (a message whose content it cannot read is handed on as
 * `UnavailableContent`) and logs what it skips, because a 4xx makes providers deliver again and then
 * drop the event. The 4xx left are for what no genuine delivery is: a bad signature or token (401), a
 * body that is not JSON (400) and an oversized body (413). A database failure answers 503 so the
 * provider delivers again. Rejections are logged once; nothing crashes the server.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as HttpMiddleware from "effect/http/HttpMiddleware"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServer from "effect/http/HttpServer"
import type { ServeError } from "effect/http/HttpServerError"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createServer } from "node:http"
import type { Readable } from "node:stream"
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

const json = (status: number, body: Record<string, unknown>) => HttpServerResponse.unsafeJson(body, { status })

/**
 * The webhook and health routes, as an `HttpApp` needing the `Inbox`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const app = (options: Options) => {
  const handlers = new Map(options.handlers.map((handler) => [handler.provider, handler]))
  const maxBytes = options.maxBodyBytes ?? 1024 * 1024

  const receive = Effect.gen(function*() {
    const inbox = yield* Inbox.Inbox
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
    const reject = (status: 400 | 401 | 413, reason: string) => new Webhook.WebhookError({ provider, status, reason })

    const declared = Number(request.headers["content-length"] ?? "0")
    if (declared > maxBytes) return yield* reject(413, `body of ${declared} bytes exceeds the ${maxBytes}-byte limit`)
    const body = yield* readBody(NodeHttpServerRequest.toIncomingMessage(request), maxBytes).pipe(
      Effect.mapError((failure) =>
        failure === "too large"
          ? reject(413, `body exceeds the ${maxBytes}-byte limit`)
          : reject(400, "the body could not be read")
      )
    )
    const url = new URL(request.url, "http://localhost")
    const raw: Webhook.WebhookRequest = {
      headers: request.headers,
      query: Object.fromEntries(url.searchParams),
      pathToken: params.token,
      body
    }
    yield* handler.verify(raw)
    const events = yield* handler.decode(raw)
    const { accepted, duplicates } = yield* inbox.enqueue(events)
    yield* Effect.annotateCurrentSpan({ "webhook.accepted": accepted, "webhook.duplicates": duplicates })
    return json(200, { status: "ok", accepted, duplicates })
  }).pipe(
    Effect.catchTags({
      WebhookError: (error) =>
        Effect.as(
          Effect.logWarning(`webhook rejected: ${error.message}`),
          json(error.status, { error: error.reason, provider: error.provider })
        ),
      SqlError: (error) =>
        Effect.as(
          Effect.logError("webhook events could not be stored", error),
          json(503, { error: "the events could not be stored; deliver again later" })
        )
    }),
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
    const url = new URL(request.url, "http://localhost")
    const answer = yield* handler.challenge({
      headers: request.headers,
      query: Object.fromEntries(url.searchParams),
      pathToken: params.token,
      body: new Uint8Array()
    })
    return HttpServerResponse.text(answer)
  }).pipe(
    Effect.catchTag("WebhookError", (error) =>
      Effect.as(
        Effect.logWarning(`webhook verification rejected: ${error.message}`),
        json(error.status, { error: error.reason, provider: error.provider })
      )),
    Effect.withSpan("WebhookServer.challenge")
  )

  const health = Effect.gen(function*() {
    const inbox = yield* Inbox.Inbox
    return yield* inbox.pendingCount.pipe(
      Effect.map((pending) => json(200, { status: "ok", pending })),
      Effect.catchAll(() => Effect.succeed(json(503, { status: "unavailable", error: "database unreachable" })))
    )
  })

  return HttpRouter.empty.pipe(
    HttpRouter.post("/webhooks/:provider", receive),
    HttpRouter.post("/webhooks/:provider/:token", receive),
    HttpRouter.get("/webhooks/:provider", challenge),
    HttpRouter.get("/webhooks/:provider/:token", challenge),
    HttpRouter.get("/health", health),
    // Anything else gets an answer that says where webhooks go (matched last: routes are specific first).
    HttpRouter.all(
      "*",
      Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
        json(404, {
          error: `no route for ${request.method} ${
            new URL(request.url, "http://localhost").pathname
          }: webhooks are posted to /webhooks/<provider>`
        }))
    )
  )
}

/**
 * Reads the body up to `maxBytes`. Past the limit it stops collecting but leaves the connection
 * alone (the platform's own limit destroys the socket, so the sender would see a reset instead of
 * the 413): Node discards the rest once the response is sent.
 */
const readBody = (source: Readable, maxBytes: number) =>
  Effect.async<Uint8Array, "too large" | "unreadable">((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const stop = () => {
      source.off("data", onData).off("end", onEnd).off("error", onError)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size <= maxBytes) return void chunks.push(chunk)
      stop()
      resume(Effect.fail("too large"))
    }
    const onEnd = () => {
      stop()
      resume(Effect.succeed(new Uint8Array(Buffer.concat(chunks, size))))
    }
    const onError = () => {
      stop()
      resume(Effect.fail("unreadable"))
    }
    source.on("data", onData).on("end", onEnd).on("error", onError)
    return Effect.sync(stop)
  })

/**
 * Whether the platform's `http.server` span must be left out for a request: it records the full URL,
 * and a webhook URL may carry the provider's secret token in its path or query. Such requests are
 * traced by the `WebhookServer.receive` span instead, which records the path with the token
 * replaced. {@link layer} applies it; serving {@link app} yourself, apply it with
 * `HttpMiddleware.withTracerDisabledWhen`.
 *
 * @since 0.1.0
 * @category tracing
 */
export const tracerDisabledWhen = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const url = new URL(request.url, "http://localhost")
  return url.pathname.startsWith("/webhooks/") && (url.pathname.split("/").length > 3 || url.search !== "")
}

/**
 * Serves the webhook routes on `host:port` (default 127.0.0.1; port 0 picks a free one), with
 * {@link tracerDisabledWhen} applied. Also provides the `HttpServer`, whose `address` tells the port
 * chosen.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options & { readonly port: number; readonly host?: string | undefined }
): Layer.Layer<HttpServer.HttpServer, ServeError, Inbox.Inbox> =>
  HttpServer.serve(app(options)).pipe(
    HttpMiddleware.withTracerDisabledWhen(tracerDisabledWhen),
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: options.port, host: options.host ?? "127.0.0.1" }))
  )
