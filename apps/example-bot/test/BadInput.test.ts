import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { expect, it } from "@effect/vitest"
import { BotPenguinWebhook } from "@parley/botpenguin"
import { CallbellApi, CallbellWebhook } from "@parley/callbell"
import * as CallbellEmulator from "@parley/callbell/emulator"
import { ChatSendWebhook } from "@parley/chatsend"
import * as ChatSendEmulator from "@parley/chatsend/emulator"
import { Bot, ChatId, Inbox, type Webhook, WebhookServer } from "@parley/core"
import { ProviderWebhook } from "@parley/core/provider"
import { MetaApi, MetaWebhook } from "@parley/meta"
import * as MetaEmulator from "@parley/meta/emulator"
import { MultisessionApi, MultisessionWebhook } from "@parley/multisession"
import * as MultisessionEmulator from "@parley/multisession/emulator"
import { Capture, Emulator, FakeNetwork, Faults } from "@parley/testing"
import { WawpWebhook } from "@parley/wawp"
import * as WawpEmulator from "@parley/wawp/emulator"
import * as Effect from "effect/Effect"
import * as HttpServer from "effect/http/HttpServer"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { mkdtempSync, rmSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"

// A full collection between memory samples, so the comparison is of live objects only.
setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void
setFlagsFromString("--no-expose-gc")

const maxBodyBytes = 64 * 1024
const secrets = {
  chatsend: "chatsend-webhook-secret-1f2e3d",
  wawp: "wawp-webhook-secret-9a8b7c",
  multisession: "multisession-webhook-secret-5d6e7f",
  callbellToken: "callbell-path-token-0a1b2c",
  callbellSecret: "whsec_callbell-signing-secret-3c4d5e",
  metaAppSecret: "meta-app-secret-7e8f9a",
  metaVerifyToken: "meta-verify-token-1b2c3d"
}
const deviceToken = MultisessionEmulator.deviceToken("bad-input-device")

/** A provider's endpoint: where to post and how a genuine sender signs. */
interface Target {
  readonly provider: string
  readonly path: string
  readonly sign: (body: Uint8Array) => Record<string, string>
  /** A genuine delivery captured from the provider's emulator, to mutate. */
  readonly seed: string
}

// A small deterministic generator (mulberry32), so a failure reproduces.
const random = (seed: number) => () => {
  seed = (seed + 0x6D2B79F5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

type Category = "malformed" | "shape" | "oversized" | "chunked" | "unsigned" | "forged" | "route"

interface Case {
  readonly category: Category
  readonly provider: string
  readonly path: string
  readonly headers: Record<string, string>
  readonly body: Uint8Array
}

const utf8 = (text: string) => new TextEncoder().encode(text)

/** Replaces one value somewhere in the JSON with one of the wrong type, or deletes it. */
const mutate = (json: unknown, next: () => number): unknown => {
  const leaves: Array<Array<string | number>> = []
  const walk = (value: unknown, path: Array<string | number>) => {
    leaves.push(path)
    if (value !== null && typeof value === "object") {
      for (const [key, child] of Object.entries(value)) walk(child, [...path, Array.isArray(value) ? Number(key) : key])
    }
  }
  walk(json, [])
  const path = leaves[1 + Math.floor(next() * (leaves.length - 1))]!
  const copy = structuredClone(json) as Record<string | number, unknown>
  let parent: Record<string | number, unknown> = copy
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>
  const key = path[path.length - 1]!
  const replacements = [undefined, null, 42, -1.5, "", "x".repeat(300), true, [], {}, "not a date", "+1"]
  const replacement = replacements[Math.floor(next() * replacements.length)]
  if (replacement === undefined) delete parent[key]
  else parent[key] = replacement
  return copy
}

const generate = (targets: ReadonlyArray<Target>, count: number): Array<Case> => {
  const next = random(6)
  const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(next() * items.length)]!
  const categories: ReadonlyArray<Category> = [
    "malformed",
    "malformed",
    "shape",
    "shape",
    "shape",
    "oversized",
    "chunked",
    "unsigned",
    "forged",
    "forged",
    "route"
  ]
  return Array.from({ length: count }, (): Case => {
    const target = pick(targets)
    const category = pick(categories)
    const signed = (body: Uint8Array): Case => ({
      category,
      provider: target.provider,
      path: target.path,
      headers: target.sign(body),
      body
    })
    switch (category) {
      case "malformed": {
        const seed = target.seed
        return signed(
          pick([
            () => utf8(seed.slice(0, 1 + Math.floor(next() * (seed.length - 2)))),
            () => new Uint8Array([0xff, 0xfe, ...utf8(seed)]),
            () => utf8(`<xml>${seed}</xml>`),
            () => utf8(seed.replace(/"/g, "'")),
            () => utf8(`${seed}}`)
          ])()
        )
      }
      case "shape":
        return signed(utf8(JSON.stringify(mutate(JSON.parse(target.seed), next))))
      case "oversized":
      case "chunked": {
        // A genuine delivery, valid JSON, only too long (trailing whitespace).
        return signed(utf8(target.seed + " ".repeat(maxBodyBytes + Math.floor(next() * maxBodyBytes))))
      }
      case "unsigned":
        return { category, provider: target.provider, path: target.path, headers: {}, body: utf8(target.seed) }
      case "forged": {
        const genuine = target.sign(utf8(target.seed))
        const tampered = target.sign(utf8(`${target.seed} `))
        const headers = Object.fromEntries(
          Object.entries(genuine).map((
            [name, value]
          ) => [name, pick([tampered[name]!, value.slice(0, -2), "é".repeat(8)])])
        )
        // Path-token providers get a wrong token instead.
        const path = target.path.replace(secrets.callbellToken, `${secrets.callbellToken.slice(0, -1)}x`)
        return { category, provider: target.provider, path, headers, body: utf8(target.seed) }
      }
      case "route":
        return {
          category,
          provider: target.provider,
          path: pick(["/webhooks/whatsapp", "/webhooks/", "/webhooks/chatsend/a/b", "/admin"]),
          headers: target.sign(utf8(target.seed)),
          body: utf8(target.seed)
        }
    }
  })
}

/** Captures one genuine webhook per provider, as its emulator posts it for a user's message. */
const captureSeeds = Effect.gen(function*() {
  const network = yield* FakeNetwork.FakeNetwork
  const recorder = yield* Emulator.serve({
    app: Effect.succeed(HttpServerResponse.jsonUnsafe({ ok: true })),
    faults: yield* Faults.make
  })
  const chatsend = yield* ChatSendEmulator.make({ webhookSecret: secrets.chatsend })
  const wawp = yield* WawpEmulator.make({ webhookSecret: secrets.wawp })
  const multisession = yield* MultisessionEmulator.make({ token: deviceToken, webhookSecret: secrets.multisession })
  const callbell = yield* CallbellEmulator.make({ webhookSecret: secrets.callbellSecret })
  const meta = yield* MetaEmulator.make({ appSecret: secrets.metaAppSecret })
  const emulators: ReadonlyArray<Emulator.Emulator> = [chatsend, wawp, multisession, callbell, meta]
  for (const emulator of emulators) {
    yield* emulator.setWebhookUrl(`${recorder.url}/${emulator.provider}`)
    yield* network.userSends({
      from: ChatId.phone("+31612345678"),
      to: emulator.business,
      content: { kind: "text", text: "I would like an appointment on Tuesday" },
      via: emulator.provider
    })
  }
  const seeds = yield* recorder.requests.pipe(
    Effect.map((requests) =>
      new Map(emulators.map((e) => [e.provider, requests.find((r) => r.url === `/${e.provider}`)?.body]))
    ),
    Effect.filterOrFail((seeds) => [...seeds.values()].every((body) => body !== undefined)),
    Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 }),
    Effect.orDie
  )
  return new Map([...seeds].map(([provider, body]) => [provider, JSON.stringify(body)]))
})

it.live(
  "10,000 malformed, oversized, wrongly signed and odd-shaped webhooks: bad input refused with a 4xx naming the problem, any verified shape answered 2xx, no 5xx, memory bounded",
  () =>
    Effect.gen(function*() {
      const capture = yield* Capture.watch([...Object.values(secrets), deviceToken])
      const seeds = yield* captureSeeds
      const dir = mkdtempSync(join(tmpdir(), "parley-bad-input-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))

      const handlers: ReadonlyArray<Webhook.WebhookHandler> = [
        ChatSendWebhook.make({ secret: Redacted.make(secrets.chatsend) }),
        WawpWebhook.make({ secret: Redacted.make(secrets.wawp) }),
        MultisessionWebhook.make({ secret: Redacted.make(secrets.multisession) }),
        CallbellWebhook.make({
          token: Redacted.make(secrets.callbellToken),
          secret: Redacted.make(secrets.callbellSecret)
        }),
        MetaWebhook.make({
          appSecret: Redacted.make(secrets.metaAppSecret),
          verifyToken: Redacted.make(secrets.metaVerifyToken)
        }),
        BotPenguinWebhook.make()
      ]
      const context = yield* Layer.build(
        WebhookServer.layer({ port: 0, handlers, maxBodyBytes }).pipe(
          Layer.provideMerge(
            Layer.provideMerge(Bot.layerStore, SqliteClient.layer({ filename: join(dir, "parley.db") }))
          ),
          Layer.provide(capture.layer)
        )
      )
      const address = (yield* Effect.provide(HttpServer.HttpServer, context)).address
      const base = address._tag === "UnixPathAddress" ? "" : `http://127.0.0.1:${address.port}`
      const inbox = yield* Effect.provide(Inbox.Inbox, context)

      const hmac = (secret: string, header: string, algorithm: "sha256" | "sha512") => (body: Uint8Array) => ({
        [header]: ProviderWebhook.sign({ secret: Redacted.make(secret), header, algorithm }, body)
      })
      const targets: ReadonlyArray<Target> = [
        {
          provider: "chatsend",
          path: "/webhooks/chatsend",
          sign: hmac(secrets.chatsend, "x-webhook-hmac", "sha512"),
          seed: seeds.get("chatsend")!
        },
        {
          provider: "wawp",
          path: "/webhooks/wawp",
          sign: hmac(secrets.wawp, "x-webhook-hmac", "sha256"),
          seed: seeds.get("wawp")!
        },
        {
          provider: "multisession",
          path: "/webhooks/multisession",
          sign: (body) => {
            const options = MultisessionApi.signature(Redacted.make(secrets.multisession))
            return { [options.header]: ProviderWebhook.sign(options, body) }
          },
          seed: seeds.get("multisession")!
        },
        {
          provider: "callbell",
          path: `/webhooks/callbell/${secrets.callbellToken}`,
          sign: (body) => ({
            "x-callbell-signature": CallbellApi.sign(
              Redacted.make(secrets.callbellSecret),
              Math.floor(Date.now() / 1000),
              body
            )
          }),
          seed: seeds.get("callbell")!
        },
        {
          provider: "meta",
          path: "/webhooks/meta",
          sign: (body) => {
            const options = MetaApi.signature(Redacted.make(secrets.metaAppSecret))
            return { [options.header]: ProviderWebhook.sign(options, body) }
          },
          seed: seeds.get("meta")!
        },
        { provider: "botpenguin", path: "/webhooks/botpenguin", sign: () => ({}), seed: seeds.get("chatsend")! }
      ]

      // Each genuine delivery is accepted as it is: the suite's rejections are about the input alone.
      for (const target of targets.filter((t) => t.provider !== "botpenguin")) {
        const response = yield* Effect.promise(() =>
          fetch(`${base}${target.path}`, {
            method: "POST",
            headers: { "content-type": "application/json", ...target.sign(utf8(target.seed)) },
            body: target.seed
          })
        )
        expect([target.provider, response.status]).toEqual([target.provider, 200])
      }
      const genuine = yield* inbox.pendingCount

      const cases = generate(targets, 10_000)
      const post = (c: Case) =>
        Effect.promise(async () => {
          const body = c.category === "chunked"
            // No content-length: the server must stop reading at the limit, not trust a header.
            ? new ReadableStream<Uint8Array>({
              start(controller) {
                for (let i = 0; i < c.body.length; i += 16 * 1024) controller.enqueue(c.body.slice(i, i + 16 * 1024))
                controller.close()
              }
            })
            : c.body
          const response = await fetch(`${base}${c.path}`, {
            method: "POST",
            headers: { "content-type": "application/json", ...c.headers },
            body,
            ...(c.category === "chunked" ? { duplex: "half" } : {})
          } as RequestInit).catch((error: unknown) => ({ status: 0, error }))
          if ("error" in response) return { c, status: 0, body: { error: String(response.error) } }
          const text = await response.text()
          const parsed = (() => {
            try {
              return JSON.parse(text) as Record<string, unknown>
            } catch {
              return { text }
            }
          })()
          return { c, status: response.status, body: parsed }
        })

      const memory: Array<number> = []
      const results: Array<Effect.Success<ReturnType<typeof post>>> = []
      for (let round = 0; round < 10; round++) {
        const slice = cases.slice(round * 1000, (round + 1) * 1000)
        results.push(...yield* Effect.forEach(slice, post, { concurrency: 16 }))
        gc()
        memory.push(process.memoryUsage().heapUsed)
      }

      const byCategory = (category: Category) => results.filter((r) => r.c.category === category)
      // No 5xx, no dropped connection: every request got an answer.
      expect(results.filter((r) => r.status >= 500 || r.status === 0).map((r) => [r.c.category, r.status, r.body]))
        .toEqual([])
      // Every refusal says what was wrong and, past routing, for which provider.
      for (const r of results.filter((r) => r.status !== 200)) {
        expect(typeof r.body.error === "string" && r.body.error.length > 0).toBe(true)
        if (r.status !== 404) expect(r.body.provider).toBe(r.c.provider)
      }
      const statuses = (rs: ReadonlyArray<typeof results[number]>) => new Set(rs.map((r) => r.status))
      const rejectedAt = (category: Category, status: number, reason: RegExp) => {
        const rs = byCategory(category).filter((r) => r.c.provider !== "botpenguin")
        expect(rs.length).toBeGreaterThan(500)
        expect(statuses(rs)).toEqual(new Set([status]))
        for (const r of rs) expect(r.body.error).toMatch(reason)
      }
      rejectedAt("malformed", 400, /^malformed JSON: /)
      rejectedAt("oversized", 413, /exceeds the 65536-byte limit/)
      rejectedAt("chunked", 413, /exceeds the 65536-byte limit/)
      rejectedAt("unsigned", 401, /^missing (signature header|webhook token)/)
      rejectedAt("forged", 401, /does not match|is not of the form/)
      expect(statuses(byCategory("route"))).toEqual(new Set([404]))
      // BotPenguin documents no webhooks: whatever arrives there is refused.
      expect(statuses(results.filter((r) => r.c.provider === "botpenguin" && r.c.category !== "route")))
        .toEqual(new Set([401, 413]))

      // A verified delivery is never refused for its shape (a 4xx makes providers deliver again, then drop
      // the event): what can be read is kept (content it cannot read as unavailable), the rest is logged.
      const shapes = byCategory("shape").filter((r) => r.c.provider !== "botpenguin")
      expect(shapes.length).toBeGreaterThan(1500)
      expect(statuses(shapes)).toEqual(new Set([200]))
      const accepted = shapes.reduce((n, r) => n + Number(r.body.accepted), 0)
      expect(accepted).toBeGreaterThan(0)
      expect(yield* inbox.pendingCount).toBe(genuine + accepted)

      // Memory stays flat: the last 5,000 requests leave no more live heap behind than the first.
      const growth = Math.max(...memory.slice(5)) - memory[4]!
      expect(growth).toBeLessThan(16 * 1024 * 1024)

      // Still serving, and no secret reached the logs of all those rejections.
      const health = yield* Effect.promise(() => fetch(`${base}/health`).then((r) => r.status))
      expect(health).toBe(200)
      // Each rejection past routing was logged once, and so was each part of a verified delivery that had
      // to be skipped (at most one per delivery here); all of that was checked.
      const counts = yield* capture.counts
      const rejections = results.filter((r) => r.status !== 200 && r.status !== 404).length
      expect(counts.logs).toBeGreaterThan(rejections)
      expect(counts.logs).toBeLessThanOrEqual(rejections + shapes.length)
      expect(counts.spans).toBeGreaterThan(10_000)
      expect(yield* capture.leaks).toEqual([])
    }).pipe(Effect.provide(Layer.merge(FakeNetwork.layer(), NodeHttpClient.layerUndici))),
  240_000
)

it.live(
  "deeply nested and stalled webhooks: JSON nested past 64 levels is a 400 for every provider (top level or inside a genuine delivery), a request that never finishes is closed with 408 in time; each one logged, no 5xx",
  () =>
    Effect.gen(function*() {
      const capture = yield* Capture.make
      const seeds = yield* captureSeeds
      const dir = mkdtempSync(join(tmpdir(), "parley-bad-input-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const handlers: ReadonlyArray<Webhook.WebhookHandler> = [
        ChatSendWebhook.make({ secret: Redacted.make(secrets.chatsend) }),
        WawpWebhook.make({ secret: Redacted.make(secrets.wawp) }),
        MultisessionWebhook.make({ secret: Redacted.make(secrets.multisession) }),
        CallbellWebhook.make({ token: Redacted.make(secrets.callbellToken) }),
        MetaWebhook.make({
          appSecret: Redacted.make(secrets.metaAppSecret),
          verifyToken: Redacted.make(secrets.metaVerifyToken)
        })
      ]
      const context = yield* Layer.build(
        WebhookServer.layer({
          port: 0,
          handlers,
          maxBodyBytes,
          timeouts: { headers: "500 millis", request: "1 second" }
        }).pipe(
          Layer.provideMerge(
            Layer.provideMerge(Bot.layerStore, SqliteClient.layer({ filename: join(dir, "parley.db") }))
          ),
          Layer.provide(capture.layer)
        )
      )
      const address = (yield* Effect.provide(HttpServer.HttpServer, context)).address
      const port = address._tag === "UnixPathAddress" ? 0 : address.port
      const hmac = (secret: string, header: string, algorithm: "sha256" | "sha512") => (body: Uint8Array) => ({
        [header]: ProviderWebhook.sign({ secret: Redacted.make(secret), header, algorithm }, body)
      })
      const meta = MetaApi.signature(Redacted.make(secrets.metaAppSecret))
      const multisession = MultisessionApi.signature(Redacted.make(secrets.multisession))
      const targets: ReadonlyArray<Omit<Target, "seed">> = [
        { provider: "chatsend", path: "/webhooks/chatsend", sign: hmac(secrets.chatsend, "x-webhook-hmac", "sha512") },
        { provider: "wawp", path: "/webhooks/wawp", sign: hmac(secrets.wawp, "x-webhook-hmac", "sha256") },
        {
          provider: "multisession",
          path: "/webhooks/multisession",
          sign: (body) => ({ [multisession.header]: ProviderWebhook.sign(multisession, body) })
        },
        // Verified by its path token alone: the case reported (HTTP 500 at 5,000 levels, in its message id digest).
        { provider: "callbell", path: `/webhooks/callbell/${secrets.callbellToken}`, sign: () => ({}) },
        {
          provider: "meta",
          path: "/webhooks/meta",
          sign: (body) => ({ [meta.header]: ProviderWebhook.sign(meta, body) })
        }
      ]
      // The genuine delivery with its deepest value replaced by arrays nested `depth` levels.
      const nestedIn = (seed: string, depth: number) => {
        const marker = "__parley_deep__"
        const json = JSON.parse(seed) as Record<string, unknown>
        let deepest: { readonly parent: Record<string, unknown>; readonly key: string; readonly level: number } = {
          parent: json,
          key: Object.keys(json)[0]!,
          level: 0
        }
        const walk = (value: Record<string, unknown>, level: number) => {
          for (const [key, child] of Object.entries(value)) {
            if (child !== null && typeof child === "object") walk(child as Record<string, unknown>, level + 1)
            else if (level > deepest.level) deepest = { parent: value, key, level }
          }
        }
        walk(json, 1)
        deepest.parent[deepest.key] = marker
        const text = JSON.stringify(json)
        expect(text).toContain(marker)
        return text.replace(`"${marker}"`, "[".repeat(depth) + "]".repeat(depth))
      }
      const post = (target: Omit<Target, "seed">, text: string) =>
        Effect.promise(async () => {
          const body = utf8(text)
          const response = await fetch(`http://127.0.0.1:${port}${target.path}`, {
            method: "POST",
            headers: { "content-type": "application/json", ...target.sign(body) },
            body
          })
          return { status: response.status, body: await response.json() as Record<string, unknown> }
        })
      let refused = 0
      for (const target of targets) {
        const seed = seeds.get(target.provider)!
        for (const depth of [65, 1_000, 5_000, 20_000]) {
          for (const text of ["[".repeat(depth) + "]".repeat(depth), nestedIn(seed, depth)]) {
            expect([target.provider, depth, yield* post(target, text)]).toEqual([target.provider, depth, {
              status: 400,
              body: {
                error: "malformed JSON: arrays and objects nested deeper than 64 levels",
                provider: target.provider
              }
            }])
            refused++
          }
        }
        // Nested as deep as a delivery may be, it is read as any odd shape is: 2xx.
        expect((yield* post(target, nestedIn(seed, 40))).status).toBe(200)
      }

      // A request that declares a body and never sends it, one whose headers never end, one that is not HTTP.
      const stalled = (head: string) =>
        Effect.callback<{ readonly answer: string; readonly millis: number }>((resume) => {
          const started = Date.now()
          let answer = ""
          const socket = connect(port, "127.0.0.1", () => socket.write(head))
          socket.on("data", (chunk) => (answer += chunk.toString()))
          socket.on("error", () => {})
          socket.on("close", () => resume(Effect.succeed({ answer, millis: Date.now() - started })))
          return Effect.sync(() => socket.destroy())
        })
      const declared = yield* stalled(
        `POST /webhooks/callbell/${secrets.callbellToken} HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{`
      )
      expect(declared.answer).toMatch(/^HTTP\/1\.1 408 /)
      expect(declared.millis).toBeLessThan(5_000)
      const endless = yield* stalled("POST /webhooks/meta HTTP/1.1\r\nHost: bot\r\nX-Hub-Signature-256: sha256=")
      expect(endless.answer).toMatch(/^HTTP\/1\.1 408 /)
      expect((yield* stalled("\u0000\u0001 not http\r\n\r\n")).answer).toMatch(/^HTTP\/1\.1 400 /)

      // One warning per refusal (the capture also holds spans, which carry log lines as events).
      const logged = yield* capture.text
      expect(logged.match(/level=WARN[^\n]*nested deeper than 64 levels/g)?.length).toBe(refused)
      expect(logged.match(/level=WARN[^\n]*webhook connection closed \(408\)/g)?.length).toBe(2)
      expect(logged).toContain("webhook connection closed (400)")
      expect(logged).not.toContain("failed unexpectedly")
      expect(yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/health`).then((r) => r.status))).toBe(200)
    }).pipe(Effect.provide(Layer.merge(FakeNetwork.layer(), NodeHttpClient.layerUndici))),
  60_000
)
