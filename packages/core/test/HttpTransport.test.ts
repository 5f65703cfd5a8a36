import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import { HttpTransport } from "@parley/core/provider"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Tracer from "effect/Tracer"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

// A loopback server whose handler decides what to answer (or to answer nothing).
const server = (handler: (request: IncomingMessage, response: ServerResponse) => void) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly close: () => void }>((resume) => {
      const http = createServer(handler)
      http.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({
          url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
          close: () => {
            http.closeAllConnections()
            http.close()
          }
        })))
    }),
    ({ close }) => Effect.sync(close)
  )

const Answer = Schema.Struct({ id: Schema.String })
const send = HttpTransport.post("/send", Schema.Struct({ text: Schema.String.pipe(Schema.maxLength(5)) }), Answer)

describe("HttpTransport", () => {
  it.scopedLive("a request with no answer by the deadline is DeliveryUnknown, and is aborted", () =>
    Effect.gen(function*() {
      const aborted = yield* Deferred.make<void>()
      const { url } = yield* server((request) => {
        request.on("close", () => Deferred.unsafeDone(aborted, Effect.void))
      })
      const transport = yield* HttpTransport.make({ provider: "test", baseUrl: url, timeout: "300 millis" })
      const error = yield* Effect.flip(transport.call(send, { text: "hi" }))
      expect(error).toMatchObject({ _tag: "DeliveryUnknown", provider: "test", reason: "no answer within 300ms" })
      yield* Deferred.await(aborted).pipe(Effect.timeout("2 seconds"))
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scopedLive("a body its Schema refuses is InvalidMessage naming the field, and no request is made", () =>
    Effect.gen(function*() {
      let requests = 0
      const { url } = yield* server((_, response) => {
        requests++
        response.end(JSON.stringify({ id: "m1" }))
      })
      const transport = yield* HttpTransport.make({ provider: "test", baseUrl: url })
      const error = yield* Effect.flip(transport.call(send, { text: "far too long" }))
      expect(error).toMatchObject({ _tag: "InvalidMessage", provider: "test", field: "text" })
      expect(requests).toBe(0)
      expect(yield* transport.call(send, { text: "ok" })).toEqual({ id: "m1" })
      expect(requests).toBe(1)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scopedLive("each request is an event on the current span: method, path and status, never the query", () =>
    Effect.gen(function*() {
      const { url } = yield* server((request, response) => {
        response.statusCode = request.url?.startsWith("/send") ? 200 : 404
        response.end(JSON.stringify({ id: "m1" }))
      })
      const transport = yield* HttpTransport.make({
        provider: "test",
        baseUrl: url,
        authorize: HttpClientRequest.setUrlParam("key", "secret-key-in-url")
      })
      const span = yield* Effect.useSpan("send", (span) =>
        Effect.as(
          Effect.zipRight(
            transport.call(send, { text: "hi" }).pipe(Effect.withParentSpan(span)),
            Effect.ignore(transport.call(send, { text: "hi" }, { path: "/missing" }).pipe(Effect.withParentSpan(span)))
          ),
          span
        ))
      const events = (span as Tracer.Span & { readonly events: ReadonlyArray<readonly [string, bigint, object]> })
        .events
      expect(events.map(([name, , attributes]) => [name, attributes])).toMatchObject([
        ["http.request", { "http.request.method": "POST", "url.path": "/send", "http.response.status_code": 200 }],
        ["http.request", { "url.path": "/missing", "http.response.status_code": 404 }]
      ])
      expect(JSON.stringify(events, (_, v) => typeof v === "bigint" ? String(v) : v)).not.toContain("secret-key")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})
