/**
 * A loopback endpoint that receives a provider's webhooks and runs them through the provider's
 * `WebhookHandler`, queueing the decoded events and remembering rejections (and answers a `GET`
 * verification request with the handler's `challenge`): enough to test a provider's inbound side
 * against its emulator without the full webhook server.
 *
 * @since 0.1.0
 */
import type { InboundEvent, Webhook } from "@parley/core"
import * as Effect from "effect/Effect"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Emulator from "./Emulator.js"
import * as Faults from "./Faults.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface WebhookReceiver {
  /** The URL to configure as the webhook; append `/<token>` for path-token verification. */
  readonly url: string
  readonly events: Queue.Dequeue<InboundEvent.InboundEvent>
  readonly rejections: Effect.Effect<ReadonlyArray<Webhook.WebhookError>>
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (handler: Webhook.WebhookHandler): Effect.Effect<WebhookReceiver, never, Scope.Scope> =>
  Effect.gen(function*() {
    const events = yield* Effect.acquireRelease(Queue.unbounded<InboundEvent.InboundEvent>(), Queue.shutdown)
    const rejections: Array<Webhook.WebhookError> = []
    const app = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const body = request.method === "GET" ? new Uint8Array() : new Uint8Array(yield* request.arrayBuffer)
      const url = new URL(request.url, "http://localhost")
      const segments = url.pathname.split("/").filter((s) => s.length > 0)
      const raw: Webhook.WebhookRequest = {
        headers: request.headers,
        query: Object.fromEntries(url.searchParams),
        pathToken: segments.length > 2 ? decodeURIComponent(segments[2]!) : undefined,
        body
      }
      if (request.method === "GET") {
        return handler.challenge === undefined
          ? HttpServerResponse.jsonUnsafe({ error: "no verification request for this provider" }, { status: 404 })
          : HttpServerResponse.text(yield* handler.challenge(raw))
      }
      const decoded = yield* Effect.andThen(handler.verify(raw), handler.decode(raw))
      yield* Queue.offerAll(events, decoded)
      return HttpServerResponse.jsonUnsafe({ received: decoded.length })
    }).pipe(
      Effect.catchTags({
        WebhookError: (error) =>
          Effect.sync(() => rejections.push(error)).pipe(
            Effect.as(HttpServerResponse.jsonUnsafe({ error: error.reason }, { status: error.status }))
          ),
        HttpServerError: () =>
          Effect.succeed(HttpServerResponse.jsonUnsafe({ error: "unreadable body" }, { status: 400 }))
      })
    )
    const server = yield* Emulator.serve({ app, faults: yield* Faults.make, log: Emulator.requestLog() })
    return {
      url: `${server.url}/webhooks/${handler.provider}`,
      events,
      rejections: Effect.sync(() => [...rejections])
    }
  })
