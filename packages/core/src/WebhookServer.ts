/**
 * The HTTP endpoint providers post webhooks to: `POST /webhooks/<provider>` (and
 * `/webhooks/<provider>/<token>` for providers verified by a URL token), plus `GET /health`.
 *
 * Per request: the body is read once, raw, up to a size cap (413 past it); the provider's handler
 * verifies it (401) and decodes it (400 naming the problem); the events are written to the durable
 * inbox, duplicates dropped in the same transaction; only then does it answer 200. A database
 * failure answers 503 so the provider delivers again. Rejections are logged once; nothing crashes
 * the server.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as IncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { createServer } from "node:http"
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
    const handler = handlers.get(provider)
    if (handler === undefined) return json(404, { error: `no webhook is configured for provider "${provider}"` })
    const request = yield* HttpServerRequest.HttpServerRequest
    const reject = (status: 400 | 401 | 413, reason: string) => new Webhook.WebhookError({ provider, status, reason })

    const declared = Number(request.headers["content-length"] ?? "0")
    if (declared > maxBytes) return yield* reject(413, `body of ${declared} bytes exceeds the ${maxBytes}-byte limit`)
    const body = yield* request.arrayBuffer.pipe(
      IncomingMessage.withMaxBodySize(Option.some(maxBytes)),
      Effect.mapError((error) =>
        String((error.cause as Error | undefined)?.message).includes("maxBytes")
          ? reject(413, `body exceeds the ${maxBytes}-byte limit`)
          : reject(400, "the body could not be read")
      )
    )
    const url = new URL(request.url, "http://localhost")
    const raw: Webhook.WebhookRequest = {
      headers: request.headers,
      query: Object.fromEntries(url.searchParams),
      pathToken: params.token,
      body: new Uint8Array(body)
    }
    yield* handler.verify(raw)
    const events = yield* handler.decode(raw)
    const { accepted, duplicates } = yield* inbox.enqueue(events)
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
    HttpRouter.get("/health", health),
    HttpRouter.catchAll(() => Effect.succeed(json(404, { error: "not found" })))
  )
}

/**
 * Serves the webhook routes on `host:port` (default 127.0.0.1; port 0 picks a free one). Also
 * provides the `HttpServer`, whose `address` tells the port chosen.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options & { readonly port: number; readonly host?: string | undefined }
): Layer.Layer<HttpServer.HttpServer, ServeError, Inbox.Inbox> =>
  HttpServer.serve(app(options)).pipe(
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: options.port, host: options.host ?? "127.0.0.1" }))
  )
