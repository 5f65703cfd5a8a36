/**
 * The floor of the conversation benchmark, run as its own process: the same three-step dialog as
 * ConversationBot.ts on Effect's own HTTP modules alone (`effect/http`, `@effect/platform-node`). The
 * webhook comes in on `HttpRouter` + `HttpServer`, its signature verified as Parley verifies it, and is
 * decoded with `Schema`, in either webhook shape (`BENCH_SHAPE`):
 * - `waha` (default): ChatSend's WAHA JSON on `POST /webhooks/chatsend`, HMAC-SHA512 in `X-Webhook-Hmac`;
 *   the reply is ChatSend's `POST /sendText`;
 * - `meta`: Meta's Cloud API envelope on `POST /webhooks/meta`, `X-Hub-Signature-256` (HMAC-SHA256 over
 *   the raw body, `sha256=` prefix); the reply is the Graph API's `POST /{version}/{phone-number-id}/messages`
 *   (`BENCH_META_PHONE_NUMBER_ID`).
 * The reply goes out on `HttpClient` without waiting for the provider's answer, and each open dialog is an
 * entry in a `Map`: no inbox, no store, no engine. What Parley costs beyond this is the framework's.
 *
 * `HttpRouter.serve` logs every request by default (Effect 4's `HttpMiddleware.logger`: 20-27% of a
 * webhook's CPU in Parley's measurements); the floor serves with `disableLogger: true`, as Parley's
 * `WebhookServer` does, so that both do the same work per request (Effect 3's `HttpServer.serve()`, which
 * the Effect 3 floor in peer/floor-effect3 runs, logged nothing either).
 *
 * Settings: `BENCH_PORT`, `BENCH_PROVIDER_URL`, `BENCH_WEBHOOK_SECRET`, `BENCH_SHAPE`,
 * `BENCH_META_PHONE_NUMBER_ID` (and `BENCH_COUNT_OPS`: see OperationCount.ts). Prints "ready" once
 * listening.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as HttpBody from "effect/http/HttpBody"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as References from "effect/References"
import * as Schema from "effect/Schema"
import { createHmac, timingSafeEqual } from "node:crypto"
import { createServer } from "node:http"
import * as OperationCount from "./OperationCount.js"

const WahaMessage = Schema.fromJsonString(Schema.Struct({
  event: Schema.String,
  payload: Schema.Struct({ from: Schema.String, fromMe: Schema.Boolean, body: Schema.String })
}))
const decodeWaha = Schema.decodeEffect(WahaMessage)

// The part of Meta's envelope a text dialog reads: each change's messages, their sender and text.
const MetaWebhook = Schema.fromJsonString(Schema.Struct({
  entry: Schema.Array(Schema.Struct({
    changes: Schema.Array(Schema.Struct({
      field: Schema.String,
      value: Schema.Struct({
        messages: Schema.optionalKey(Schema.Array(Schema.Struct({
          from: Schema.String,
          type: Schema.String,
          text: Schema.optionalKey(Schema.Struct({ body: Schema.String }))
        })))
      })
    }))
  }))
}))
const decodeMeta = Schema.decodeEffect(MetaWebhook)

const main = Effect.gen(function*() {
  const port = yield* Config.Int("BENCH_PORT")
  const providerUrl = yield* Config.String("BENCH_PROVIDER_URL")
  const secret = yield* Config.Redacted("BENCH_WEBHOOK_SECRET")
  const shape = yield* Config.withDefault(Config.Literals(["waha", "meta"], "BENCH_SHAPE"), "waha")
  const phoneNumberId = yield* Config.withDefault(Config.String("BENCH_META_PHONE_NUMBER_ID"), "")
  const client = (yield* HttpClient.HttpClient).pipe(
    HttpClient.mapRequest(HttpClientRequest.prependUrl(providerUrl)),
    HttpClient.filterStatusOk
  )
  // Replies run as fibers of their own so the webhook is answered without waiting for them.
  const replies = yield* FiberSet.make()
  const send = shape === "waha"
    ? (to: string, text: string) =>
      client.post("/sendText", { body: HttpBody.jsonUnsafe({ session: "default", to, text }) })
    : (to: string, text: string) =>
      client.post(`/v23.0/${phoneNumberId}/messages`, {
        body: HttpBody.jsonUnsafe({
          messaging_product: "whatsapp",
          recipient_type: "individual",
          to,
          type: "text",
          text: { preview_url: false, body: text }
        })
      })
  const reply = (to: string, text: string) =>
    FiberSet.run(
      replies,
      send(to, text).pipe(
        Effect.flatMap((response) => response.json),
        Effect.catchCause((cause) => Effect.logWarning(`reply to ${to} failed`, cause))
      )
    )
  // The answers so far of each chat inside the dialog (keyed by the number replies go to).
  const dialogs = new Map<string, Array<string>>()
  const step = (to: string, text: string) => {
    const answers = dialogs.get(to)
    if (answers === undefined) {
      if (text !== "start") return Effect.void
      dialogs.set(to, [])
      return reply(to, "q1: your first answer?")
    }
    if (answers.push(text) === 1) return reply(to, "q2: your second answer?")
    dialogs.delete(to)
    return reply(to, `done ${answers.join("|")}`)
  }

  const key = Redacted.value(secret)
  const signedBy = shape === "waha"
    ? (header: string | undefined, body: string) => {
      const expected = createHmac("sha512", key).update(body).digest()
      const given = Buffer.from(header?.trim() ?? "", "hex")
      return given.length === expected.length && timingSafeEqual(given, expected)
    }
    : (header: string | undefined, body: string) => {
      const expected = createHmac("sha256", key).update(body).digest()
      const given = header?.startsWith("sha256=") ? Buffer.from(header.slice(7).trim(), "hex") : undefined
      return given !== undefined && given.length === expected.length && timingSafeEqual(given, expected)
    }
  const unsigned = HttpServerResponse.jsonUnsafe({ error: "signature does not match the body" }, { status: 401 })
  const ok = HttpServerResponse.jsonUnsafe({ status: "ok" })
  const receive = (request: HttpServerRequest.HttpServerRequest) =>
    Effect.gen(function*() {
      const body = yield* request.text
      if (shape === "waha") {
        if (!signedBy(request.headers["x-webhook-hmac"], body)) return unsigned
        const { event, payload } = yield* decodeWaha(body)
        if (event === "message" && !payload.fromMe) yield* step(`+${payload.from.replace(/@.*$/, "")}`, payload.body)
        return ok
      }
      if (!signedBy(request.headers["x-hub-signature-256"], body)) return unsigned
      const { entry } = yield* decodeMeta(body)
      for (const { changes } of entry) {
        for (const { field, value } of changes) {
          if (field !== "messages") continue
          for (const message of value.messages ?? []) {
            if (message.type === "text" && message.text !== undefined) yield* step(message.from, message.text.body)
          }
        }
      }
      return ok
    }).pipe(
      Effect.catchTag("SchemaError", (error) => HttpServerResponse.json({ error: error.message }, { status: 400 }))
    )

  yield* Layer.build(
    HttpRouter.serve(HttpRouter.add("POST", shape === "waha" ? "/webhooks/chatsend" : "/webhooks/meta", receive), {
      disableLogger: true,
      disableListenLog: true
    }).pipe(Layer.provide(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" })))
  )
  yield* Console.log("ready")
  return yield* Effect.never
})

NodeRuntime.runMain(
  main.pipe(
    Effect.provide(NodeHttpClient.layerUndici),
    Effect.scoped,
    Effect.provideService(References.MinimumLogLevel, "Warn"),
    OperationCount.counted
  )
)
