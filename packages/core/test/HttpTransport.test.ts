import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Capabilities, ChatId, Message, MessagingService } from "@parley/core"
import { HttpTransport } from "@parley/core/provider"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Tracer from "effect/Tracer"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

// A loopback server whose handler decides what to answer (or to answer nothing).
const server = (handler: (request: IncomingMessage, response: ServerResponse) => void) =>
  Effect.acquireRelease(
    Effect.callback<{ readonly url: string; readonly close: () => void }>((resume) => {
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
const send = HttpTransport.post("/send", Schema.Struct({ text: Schema.String.check(Schema.isMaxLength(5)) }), Answer)

describe("HttpTransport", () => {
  it.live("a request with no answer by the deadline is DeliveryUnknown, and is aborted", () =>
    Effect.gen(function*() {
      const aborted = yield* Deferred.make<void>()
      const { url } = yield* server((request) => {
        request.on("close", () => Deferred.doneUnsafe(aborted, Exit.void))
      })
      const transport = yield* HttpTransport.make({ provider: "test", baseUrl: url, timeout: "300 millis" })
      const error = yield* Effect.flip(transport.call(send, { text: "hi" }))
      expect(error).toMatchObject({ _tag: "DeliveryUnknown", provider: "test", reason: "no answer within 300ms" })
      yield* Deferred.await(aborted).pipe(Effect.timeout("2 seconds"))
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a body its Schema refuses is InvalidMessage naming the field, and no request is made", () =>
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

  it.live("each request is an event on the current span: method, path and status, never the query", () =>
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
          Effect.andThen(
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

  // The platform's span is off for a transport's request whether or not a provider's service is in effect
  // (each request turns it off for itself), and a request of the app's own keeps its span.
  it.live("the platform makes no span for a transport's request; the app's own requests keep theirs", () =>
    Effect.gen(function*() {
      const { url } = yield* server((_, response) => response.end(JSON.stringify({ id: "m1" })))
      const transport = yield* HttpTransport.make({ provider: "test", baseUrl: url })
      const names: Array<string> = []
      const native = yield* Effect.tracer
      const tracer = Tracer.make({
        span: (options) => {
          names.push(options.name)
          return native.span(options)
        },
        context: native.context
      })
      const driver: MessagingService.Driver = {
        provider: "test",
        capabilities: Capabilities.make({ kinds: Message.kinds }),
        send: () => Effect.as(transport.call(send, { text: "hi" }), { messageId: "m1", status: "sent" as const })
      }
      const appRequest = Effect.flatMap(HttpClient.HttpClient, (client) => client.get(`${url}/own`))
      // The platform's span for the app's request: Effect 4 names it by the method (Effect 3 said
      // `http.client GET`).
      const platformSpan = "GET"
      const recorded = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.suspend(() => {
          names.length = 0
          return Effect.map(Effect.withTracer(effect, tracer), () => [...names])
        })

      // Outside a service: the request on its own.
      expect(yield* recorded(transport.call(send, { text: "hi" }))).toEqual([])
      // Within one, beside a request of the app's own.
      const inService = yield* recorded(
        Effect.gen(function*() {
          const service = yield* MessagingService.MessagingService
          yield* service.send(Message.text(ChatId.phone("+14155550123"), "hi"))
          yield* appRequest
        }).pipe(
          Effect.provide(
            Layer.effect(MessagingService.MessagingService, MessagingService.make(driver, { retry: false }))
          )
        )
      )
      expect(inService.filter((name) => name !== "MessagingService.send")).toEqual([platformSpan])
      expect(inService).toContain("MessagingService.send")
      // And the app's requests keep their span once the service is gone.
      expect(yield* recorded(appRequest)).toEqual([platformSpan])
      expect(Option.isNone(yield* Effect.serviceOption(MessagingService.MessagingService))).toBe(true)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})
