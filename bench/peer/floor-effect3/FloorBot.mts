/**
 * The floor of the conversation benchmark on Effect 3.22 (`effect` 3.22.4, `@effect/platform` 0.97.2,
 * `@effect/platform-node` 0.108.2, as Parley ran on before Effect 4), run as its own process: bench/FloorBot.ts
 * as it was on Effect 3 (main), its operation counting left out (Effect 4 counts differently: see
 * bench/OperationCount.ts). The same three-step dialog as bench/ConversationBot.ts on `@effect/platform`
 * alone: the webhook comes in on `HttpServer` (ChatSend's WAHA JSON, its HMAC verified as Parley verifies
 * it; Effect 3's `HttpServer.serve()` logs nothing per request), the reply goes out on `HttpClient` without
 * waiting for the provider's answer, and each open dialog is an entry in a `Map`. Installed on first use
 * into this folder with npm (its own `package.json`, outside the workspace) and compiled to one file with
 * esbuild by bench/conversations.ts. Settings: `BENCH_PORT`, `BENCH_PROVIDER_URL`, `BENCH_WEBHOOK_SECRET`.
 * Prints "ready" once listening.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { createHmac, timingSafeEqual } from "node:crypto"
import { createServer } from "node:http"

const WahaMessage = Schema.parseJson(Schema.Struct({
  event: Schema.String,
  payload: Schema.Struct({ from: Schema.String, fromMe: Schema.Boolean, body: Schema.String })
}))
const decode = Schema.decode(WahaMessage)

const main = Effect.gen(function*() {
  const port = yield* Config.integer("BENCH_PORT")
  const providerUrl = yield* Config.string("BENCH_PROVIDER_URL")
  const secret = yield* Config.redacted("BENCH_WEBHOOK_SECRET")
  const client = (yield* HttpClient.HttpClient).pipe(
    HttpClient.mapRequest(HttpClientRequest.prependUrl(providerUrl)),
    HttpClient.filterStatusOk
  )
  // Replies run as fibers of their own so the webhook is answered without waiting for them.
  const replies = yield* FiberSet.make()
  const reply = (to: string, text: string) =>
    FiberSet.run(
      replies,
      client.post("/sendText", { body: HttpBody.unsafeJson({ session: "default", to, text }) }).pipe(
        Effect.flatMap((response) => response.json),
        Effect.catchAllCause((cause) => Effect.logWarning(`reply to ${to} failed`, cause))
      )
    )
  // The answers so far of each chat inside the dialog.
  const dialogs = new Map<string, Array<string>>()
  const step = (from: string, text: string) => {
    const to = `+${from.replace(/@.*$/, "")}`
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

  const signedBy = (header: string | undefined, body: string) => {
    const expected = createHmac("sha512", Redacted.value(secret)).update(body).digest()
    const given = Buffer.from(header?.trim() ?? "", "hex")
    return given.length === expected.length && timingSafeEqual(given, expected)
  }
  const receive = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const body = yield* request.text
    if (!signedBy(request.headers["x-webhook-hmac"], body)) {
      return HttpServerResponse.unsafeJson({ error: "signature does not match the body" }, { status: 401 })
    }
    const { event, payload } = yield* decode(body)
    if (event === "message" && !payload.fromMe) yield* step(payload.from, payload.body)
    return HttpServerResponse.unsafeJson({ status: "ok" })
  }).pipe(
    Effect.catchTag("ParseError", (error) => HttpServerResponse.json({ error: error.message }, { status: 400 }))
  )

  yield* Layer.build(
    HttpRouter.empty.pipe(
      HttpRouter.post("/webhooks/chatsend", receive),
      HttpServer.serve(),
      Layer.provide(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" }))
    )
  )
  yield* Console.log("ready")
  return yield* Effect.never
})

NodeRuntime.runMain(
  main.pipe(
    Effect.provide(NodeHttpClient.layerUndici),
    Effect.scoped,
    Logger.withMinimumLogLevel(LogLevel.Warning)
  )
)
