import { describe, expect, it } from "@effect/vitest"
import { Bot, Inbox, WebhookServer } from "@parley/core"
import { ProviderWebhook, Waha } from "@parley/core/provider"
import * as Effect from "effect/Effect"
import * as HttpServer from "effect/http/HttpServer"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
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

const server = Effect.gen(function*() {
  const dir = yield* tempDir("parley-webhooks-")
  const layer = WebhookServer.layer({
    port: 0,
    handlers: [
      Waha.webhookHandler("chatsend", { secret }),
      Waha.webhookHandler("wawp", { token: Redacted.make("path-token") })
    ]
  }).pipe(Layer.provideMerge(Layer.provideMerge(Bot.layerStore, sqliteAt(join(dir, "db")))))
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
  return { base, post, signed, inbox, sql }
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
})
