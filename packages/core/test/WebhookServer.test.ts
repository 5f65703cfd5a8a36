import { describe, expect, it } from "@effect/vitest"
import { Bot, Inbox, type Webhook, WebhookServer } from "@parley/core"
import { ProviderWebhook, Waha } from "@parley/core/provider"
import { Capture } from "@parley/testing"
import * as Effect from "effect/Effect"
import * as HttpServer from "effect/http/HttpServer"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import { connect } from "node:net"
import { join } from "node:path"
import { sqliteAt, tempDir } from "./fixtures/databases.js"

const secret = Redacted.make("webhook-secret")
const hmac = { secret, header: "X-Webhook-Hmac", algorithm: "sha512" } as const

const envelope = (id: string, text = "hello") => ({
  id: `evt_${id}`,
  timestamp: 1_795_000_000_000,
  event: "message",
  session: "default",
  payload: { id, timestamp: 1_795_000_000, from: "31612345678@c.us", fromMe: false, body: text }
})

// A handler whose own code dies: in verification for `broken-verify`, in decoding for `broken-decode`.
const broken = (provider: string, where: "verify" | "decode"): Webhook.WebhookHandler => ({
  provider,
  verify: () => where === "verify" ? Effect.die(new RangeError("Maximum call stack size exceeded")) : Effect.void,
  decode: () => where === "decode" ? Effect.die(new RangeError("Maximum call stack size exceeded")) : Effect.succeed([])
})

const server = Effect.gen(function*() {
  const dir = yield* tempDir("parley-webhooks-")
  const capture = yield* Capture.make
  const layer = WebhookServer.layer({
    port: 0,
    handlers: [
      Waha.webhookHandler("chatsend", { secret }),
      Waha.webhookHandler("wawp", { token: Redacted.make("path-token") }),
      broken("broken-verify", "verify"),
      broken("broken-decode", "decode")
    ],
    timeouts: { headers: "300 millis", request: "600 millis" }
  }).pipe(
    Layer.provideMerge(Layer.provideMerge(Bot.layerStore, sqliteAt(join(dir, "db")))),
    Layer.provide(capture.layer)
  )
  const context = yield* Layer.build(layer)
  const address = yield* Effect.provide(HttpServer.HttpServer, context).pipe(Effect.map((s) => s.address))
  const base = address._tag === "UnixPathAddress" ? "" : `http://127.0.0.1:${address.port}`
  const post = (path: string, body: string | Uint8Array, headers: Record<string, string> = {}) =>
    Effect.promise(() =>
      fetch(`${base}${path}`, { method: "POST", body, headers: { "content-type": "application/json", ...headers } })
        .then(async (r) => ({ status: r.status, body: await r.json() as Record<string, unknown> }))
    )
  const signed = (body: unknown) => {
    const text = JSON.stringify(body)
    return post("/webhooks/chatsend", text, { "x-webhook-hmac": ProviderWebhook.sign(hmac, text) })
  }
  const inbox = yield* Effect.provide(Inbox.Inbox, context)
  const sql = yield* Effect.provide(SqlClient.SqlClient, context)
  const port = address._tag === "UnixPathAddress" ? 0 : address.port
  return { base, post, signed, inbox, sql, port, logs: capture.text }
})

/** Writes `head` on a raw connection and reads until the server closes it: what came back, and when. */
const raw = (port: number, head: string) =>
  Effect.callback<{ readonly answer: string; readonly millis: number }>((resume) => {
    const started = Date.now()
    let answer = ""
    const socket = connect(port, "127.0.0.1", () => socket.write(head))
    socket.on("data", (chunk) => (answer += chunk.toString()))
    socket.on("error", () => {})
    socket.on("close", () => resume(Effect.succeed({ answer, millis: Date.now() - started })))
    return Effect.sync(() => socket.destroy())
  })

describe("WebhookServer", () => {
  it.live("accepts a verified delivery once: the same webhook three times is one event", () =>
    Effect.gen(function*() {
      const { inbox, signed } = yield* server
      expect(yield* signed(envelope("m1"))).toEqual({ status: 200, body: { status: "ok", accepted: 1, duplicates: 0 } })
      expect((yield* signed(envelope("m1"))).body).toMatchObject({ accepted: 0, duplicates: 1 })
      expect((yield* signed(envelope("m1"))).body).toMatchObject({ accepted: 0, duplicates: 1 })
      expect(yield* inbox.pendingCount).toBe(1)
    }))

  it.live("verifies a path token for providers without signatures", () =>
    Effect.gen(function*() {
      const { post } = yield* server
      const body = JSON.stringify(envelope("m2"))
      expect((yield* post("/webhooks/wawp/path-token", body)).status).toBe(200)
      expect(yield* post("/webhooks/wawp/wrong", body)).toEqual({
        status: 401,
        body: { error: "webhook token does not match", provider: "wawp" }
      })
      expect((yield* post("/webhooks/wawp", body)).status).toBe(401)
    }))

  it.live("answers bad input with the right 4xx naming the problem, a verified odd shape with 2xx, and keeps serving", () =>
    Effect.gen(function*() {
      const { base, inbox, post, signed } = yield* server
      const withSignature = (text: string) =>
        post("/webhooks/chatsend", text, { "x-webhook-hmac": ProviderWebhook.sign(hmac, text) })

      const malformed = yield* withSignature("{\"event\": ")
      expect(malformed.status).toBe(400)
      expect(malformed.body.error).toMatch(/^malformed JSON/)

      // Verified, but nothing to address an event to: answered 2xx (a 4xx would be delivered again, then
      // dropped), with nothing stored.
      const unaddressable = yield* withSignature(JSON.stringify({ ...envelope("m3"), payload: { id: "m3", from: 42 } }))
      expect(unaddressable).toEqual({ status: 200, body: { status: "ok", accepted: 0, duplicates: 0 } })

      const unsigned = yield* post("/webhooks/chatsend", JSON.stringify(envelope("m4")))
      expect(unsigned).toEqual({
        status: 401,
        body: { error: "missing signature header x-webhook-hmac", provider: "chatsend" }
      })
      const forged = yield* post("/webhooks/chatsend", JSON.stringify(envelope("m4")), {
        "x-webhook-hmac": "ab".repeat(64)
      })
      expect(forged.status).toBe(401)

      const huge = yield* withSignature(JSON.stringify({ ...envelope("m5", "x".repeat(2 * 1024 * 1024)) }))
      expect(huge.status).toBe(413)
      expect(huge.body.error).toContain("1048576-byte limit")

      expect((yield* post("/webhooks/unknown", "{}")).status).toBe(404)
      expect(yield* post("/hooks", "{}")).toEqual({
        status: 404,
        body: { error: "no route for POST /hooks: webhooks are posted to /webhooks/<provider>" }
      })
      expect(yield* inbox.pendingCount).toBe(0)

      // Still serving; content of a shape it does not know is stored as unavailable.
      expect((yield* signed(envelope("m6"))).status).toBe(200)
      const odd = yield* signed({ ...envelope("m7"), payload: { ...envelope("m7").payload, body: 42 } })
      expect(odd).toEqual({ status: 200, body: { status: "ok", accepted: 1, duplicates: 0 } })
      const health = yield* Effect.promise(() => fetch(`${base}/health`).then(async (r) => [r.status, await r.json()]))
      expect(health).toEqual([200, { status: "ok", pending: 2 }])
    }))

  it.live("a failed store answers 503 and keeps no dedupe mark, so the redelivery is accepted", () =>
    Effect.gen(function*() {
      const { inbox, signed, sql } = yield* server
      yield* sql.unsafe(
        `CREATE TRIGGER parley_fail BEFORE INSERT ON parley_inbox BEGIN SELECT RAISE(ABORT, 'crash'); END`
      )
      const failed = yield* signed(envelope("m7"))
      expect(failed.status).toBe(503)
      yield* sql.unsafe(`DROP TRIGGER parley_fail`)
      expect((yield* signed(envelope("m7"))).body).toMatchObject({ accepted: 1, duplicates: 0 })
      expect(yield* inbox.pendingCount).toBe(1)
    }))

  it.live("a body nested deeper than 64 levels is a 400 naming it, before anything is parsed; 64 levels decode", () =>
    Effect.gen(function*() {
      const { logs, post } = yield* server
      for (const depth of [65, 5_000, 100_000]) {
        for (const body of ["[".repeat(depth) + "]".repeat(depth), "{\"a\":".repeat(depth) + "1" + "}".repeat(depth)]) {
          expect(yield* post("/webhooks/wawp/path-token", body)).toEqual({
            status: 400,
            body: { error: "malformed JSON: arrays and objects nested deeper than 64 levels", provider: "wawp" }
          })
        }
      }
      // Brackets inside strings are text, not nesting.
      const inText = JSON.stringify({
        ...envelope("m8"),
        payload: { ...envelope("m8").payload, body: "[".repeat(200) }
      })
      expect((yield* post("/webhooks/wawp/path-token", inText)).body).toMatchObject({ accepted: 1 })
      const deepest = "[".repeat(64) + "]".repeat(64)
      expect((yield* post("/webhooks/wawp/path-token", deepest)).status).toBe(200)
      expect(yield* logs).toContain("nested deeper than 64 levels")
    }))

  it.live("a handler that dies is logged with its cause and answered as documented: 401 unverified, 200 verified", () =>
    Effect.gen(function*() {
      const { logs, post } = yield* server
      expect(yield* post("/webhooks/broken-verify", "{}")).toEqual({
        status: 401,
        body: { error: "the delivery could not be verified", provider: "broken-verify" }
      })
      expect(yield* post("/webhooks/broken-decode", "{}")).toEqual({
        status: 200,
        body: { status: "ok", accepted: 0, duplicates: 0 }
      })
      const logged = yield* logs
      expect(logged).toContain("broken-verify webhook: verification failed unexpectedly")
      expect(logged).toContain("broken-decode webhook: decoding a verified delivery (nothing of it is kept) failed")
      expect(logged).toContain("Maximum call stack size exceeded")
    }))

  it.live("a request that declares a body and never sends it, or never finishes its headers, is closed with 408 and logged", () =>
    Effect.gen(function*() {
      const { logs, port, post } = yield* server
      const stalled = yield* raw(
        port,
        "POST /webhooks/wawp/path-token HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\":"
      )
      expect(stalled.answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/)
      // The request timeout (600 ms), checked every 75 ms: not Node's default 300 s.
      expect(stalled.millis).toBeGreaterThanOrEqual(550)
      expect(stalled.millis).toBeLessThan(3_000)
      const headers = yield* raw(port, "POST /webhooks/wawp/path-token HTTP/1.1\r\nHost: bot\r\n")
      expect(headers.answer).toMatch(/^HTTP\/1\.1 408 /)
      expect(headers.millis).toBeLessThan(3_000)
      expect(yield* logs).toContain("webhook connection closed (408): the request did not arrive in full within 600 ms")
      // Still serving.
      expect((yield* post("/webhooks/wawp/path-token", JSON.stringify(envelope("m9")))).status).toBe(200)
    }))
})
