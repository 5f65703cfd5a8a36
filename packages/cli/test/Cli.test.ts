/**
 * `parley` as a user runs it: a subprocess, configured by environment variables, against a SQLite file
 * that a running bot uses at the same time, against provider emulators on loopback, and against
 * PostgreSQL.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import * as CallbellEmulator from "@parley/callbell/emulator"
import {
  Bot,
  Capabilities,
  ChatId,
  Conversation,
  InboundEvent,
  Inbox,
  Message,
  MessagingService,
  Receipt
} from "@parley/core"
import * as MetaEmulator from "@parley/meta/emulator"
import { FakeNetwork, Postgres } from "@parley/testing"
import * as WawpEmulator from "@parley/wawp/emulator"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as References from "effect/References"
import * as Schedule from "effect/Schedule"
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { fileURLToPath } from "node:url"

const bin = fileURLToPath(new URL("../bin/parley.js", import.meta.url))

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs `parley` with `args` and only the `env` given (besides PATH), from a temp dir. */
const parley = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.callback<Run>((resume) => {
    const child = execFile(process.execPath, [bin, ...args], {
      cwd: tmpdir(),
      env: { PATH: process.env.PATH ?? "", ...env },
      timeout: 60_000
    }, (error, stdout, stderr) =>
      resume(Effect.succeed({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr })))
    return Effect.sync(() =>
      child.kill()
    )
  })

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "parley-cli-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const says = (chat: ChatId.ChatId, text: string, id: string) =>
  new InboundEvent.MessageReceived({
    provider: "wawp",
    eventId: id,
    messageId: id,
    chat,
    sender: chat,
    content: new InboundEvent.TextContent({ text }),
    at: new Date()
  })

/** A `MessagingService` that queues what the bot sends. */
const recorder = Effect.map(Queue.unbounded<Message.Message>(), (sent) => ({
  sent,
  service: {
    provider: "recorder",
    capabilities: Capabilities.make({ kinds: Message.kinds, replies: Message.kinds }),
    send: (message) =>
      Effect.as(
        Queue.offer(sent, message),
        new Receipt.Receipt({ provider: "recorder", messageId: `out-${Math.random()}`, status: "sent", at: new Date() })
      )
  } satisfies MessagingService.Service
}))

describe("parley --help and bad arguments", () => {
  const commands = [
    ["send"],
    ["doctor"],
    ["dead-letters", "list"],
    ["dead-letters", "show"],
    ["dead-letters", "replay"],
    ["dead-letters", "drop"],
    ["chats", "show"],
    ["migrate"]
  ]

  it.live(
    "every flag and argument has its description, and nothing is coloured when piped or with --json",
    () =>
      Effect.gen(function*() {
        const helps = yield* Effect.forEach(
          commands,
          (command) => Effect.map(parley([...command, "--help"], {}), (run) => [command.join(" "), run] as const),
          { concurrency: 4 }
        )
        for (const [command, help] of helps) {
          expect(help.code, command).toBe(0)
          expect(help.stdout, command).not.toContain("\x1b[")
          expect(help.stdout, command).not.toContain("A user-defined piece of text")
          // Each row of ARGUMENTS and FLAGS: the name (and its type), then a description.
          const rows = help.stdout.split("\n\n").filter((section) => /^(ARGUMENTS|FLAGS)\n/.test(section))
            .flatMap((section) => section.split("\n").slice(1))
          expect(rows.length, command).toBeGreaterThan(0)
          for (const row of rows) expect(row, command).toMatch(/^ {2}\S.*? {2,}[A-Z]\S* \S+/)
        }
        const send = helps.find(([command]) => command === "send")![1].stdout
        expect(send).toMatch(/--to string +The chat to write to: a phone number/)
        expect(send).toMatch(/--json +Print JSON, for scripts/)
        expect(helps.find(([command]) => command === "dead-letters replay")![1].stdout).toMatch(
          /id\.\.\. integer +The ids of the dead letters to replay/
        )

        // Colour only where asked for on a terminal, and never with --json.
        expect((yield* parley(["doctor", "--help"], { FORCE_COLOR: "1" })).stdout).toContain("\x1b[")
        expect((yield* parley(["doctor", "--json", "--help"], { FORCE_COLOR: "1" })).stdout).not.toContain("\x1b[")
      }),
    120_000
  )

  it.live("a bad argument is one line naming the fix, with exit code 2", () =>
    Effect.gen(function*() {
      const missing = yield* parley(["send", "--text", "hi"], {})
      expect(missing).toEqual({
        code: 2,
        stdout: "",
        stderr: "✖ Missing required flag: --to. Run `parley send --help` for the usage\n"
      })
      const unknown = yield* parley(["sned"], {})
      expect(unknown.code).toBe(2)
      expect(unknown.stderr).toMatch(/^✖ Unknown subcommand "sned" .*\(did you mean send\?\)\. Run `parley --help`/)
      expect(unknown.stderr.trim().split("\n")).toHaveLength(1)
      const notANumber = yield* parley(["dead-letters", "show", "twelve"], {})
      expect(notANumber.code).toBe(2)
      expect(notANumber.stderr).toContain("Run `parley dead-letters show --help` for the usage")
      expect(notANumber.stderr + notANumber.stdout).not.toContain("\x1b[")
    }), 60_000)

  it.live("a database failure says what the database said, with exit code 1", () =>
    Effect.gen(function*() {
      // A SQLite file that is not a bot's: its tables are missing.
      const file = join(yield* tempDir, "other.db")
      new DatabaseSync(file).exec("CREATE TABLE notes (text TEXT)")
      const run = yield* parley(["dead-letters", "list"], { PARLEY_DATABASE_URL: file })
      expect(run.code).toBe(1)
      expect(run.stderr).toContain("no such table: parley_dead_letters")
      expect(run.stderr).toContain("run `parley migrate`")
    }), 60_000)
})

describe("parley dead-letters, against the file of a running bot", () => {
  it.live(
    "list shows the dead letters; replay gets them handled (the bot answers); drop removes them",
    () =>
      Effect.gen(function*() {
        const file = join(yield* tempDir, "parley.db")
        const env = { PARLEY_DATABASE_URL: file }
        const out = yield* recorder
        // The booking service is down until the test fixes it: its events are dead-lettered.
        let down = true
        const bot = Bot.make({
          routes: [
            Bot.keyword(
              "book",
              Effect.andThen(
                Effect.suspend(() => down ? Effect.fail("the booking service is down") : Effect.void),
                Effect.andThen(Conversation.reply("Booked"), Conversation.ask("Anything else?"))
              )
            )
          ]
        })
        const running = yield* Layer.build(
          Layer.provideMerge(
            Bot.layer(bot, { pollInterval: "100 millis", retry: Schedule.recurs(1) }).pipe(
              Layer.provide(Layer.succeed(MessagingService.MessagingService, out.service))
            ),
            Bot.layerStore
          ).pipe(Layer.provide(SqliteClient.layer({ filename: file })))
        )
        const inbox = Context.get(running, Inbox.Inbox)
        const [ada, bob, eve] = ["+31611111111", "+31622222222", "+31633333333"].map(ChatId.phone)
        yield* inbox.enqueue([says(ada!, "book", "a"), says(bob!, "book", "b"), says(eve!, "book", "e")])
        yield* Effect.repeat(inbox.deadLetters, {
          until: (dead) => dead.length === 3,
          schedule: Schedule.spaced("20 millis")
        })

        const listed = yield* parley(["dead-letters", "list", "--json"], env)
        expect(listed.code).toBe(0)
        const dead: Array<{ id: number; chat: string; error: string; attempts: number }> = JSON.parse(listed.stdout)
        expect(dead.map((d) => [d.chat, d.attempts])).toEqual([
          ["+31611111111", 2],
          ["+31622222222", 2],
          ["+31633333333", 2]
        ])
        expect(dead[0]!.error).toContain("the booking service is down")
        const shown = yield* parley(["dead-letters", "show", String(dead[1]!.id)], env)
        expect(shown.stdout).toContain("chat:     +31622222222")
        expect(shown.stdout).toContain("the booking service is down")

        down = false
        const replayed = yield* parley(["dead-letters", "replay", String(dead[0]!.id), String(dead[1]!.id)], env)
        expect(replayed.code).toBe(0)
        expect(replayed.stdout).toContain("Replayed 2 dead letters into the inbox")
        // The running bot takes them up by its poll, and answers.
        const answers = yield* Effect.forEach([1, 2, 3, 4], () => Queue.take(out.sent)).pipe(
          Effect.timeout("20 seconds")
        )
        expect(answers.map((m) => [m.to.toString(), m._tag === "Text" ? m.text : m._tag]).sort()).toEqual([
          ["+31611111111", "Anything else?"],
          ["+31611111111", "Booked"],
          ["+31622222222", "Anything else?"],
          ["+31622222222", "Booked"]
        ])
        yield* Effect.repeat(inbox.pendingCount, { until: (n) => n === 0, schedule: Schedule.spaced("20 millis") })
        const chat = yield* parley(["chats", "show", "+31 6 1111 1111"], env)
        expect(chat.stdout).toContain("Chat +31611111111 (through wawp)")
        expect(chat.stdout).toMatch(/Window: open until \d{4}-/)
        expect(chat.stdout).toContain("Dialog: keyword:book")
        expect(chat.stdout).toMatch(/ {2}1\. reply "Booked" done → .*\n {2}2\. ask "Anything else\?" waiting/)
        expect(chat.stdout.match(/ out-\S+ {2}recorder {2}sent/g)).toHaveLength(2)

        const dropped = yield* parley(["dead-letters", "drop", "--all"], env)
        expect(dropped.stdout).toContain("Dropped 1 dead letter.")
        expect(JSON.parse((yield* parley(["dead-letters", "list", "--json"], env)).stdout)).toEqual([])
        expect(yield* Queue.size(out.sent)).toBe(0)

        const again = yield* parley(["dead-letters", "replay", String(dead[0]!.id)], env)
        expect(again.code).toBe(3)
        expect(again.stderr).toContain(`✖ no dead letter #${dead[0]!.id}. \`parley dead-letters list\` shows the ids`)
      }).pipe(Effect.provideService(References.MinimumLogLevel, "None")),
    90_000
  )
})

describe("parley send and doctor, against provider emulators", () => {
  const emulators = Effect.gen(function*() {
    const wawp = yield* WawpEmulator.make()
    const callbell = yield* CallbellEmulator.make()
    const meta = yield* MetaEmulator.make()
    return {
      wawp,
      callbell,
      meta,
      env: {
        PARLEY_WAWP_BASE_URL: wawp.url,
        PARLEY_WAWP_INSTANCE_ID: wawp.instanceId,
        PARLEY_WAWP_ACCESS_TOKEN: wawp.accessToken,
        PARLEY_CALLBELL_BASE_URL: callbell.url,
        PARLEY_CALLBELL_API_KEY: callbell.apiKey,
        PARLEY_META_BASE_URL: meta.url,
        PARLEY_META_PHONE_NUMBER_ID: meta.phoneNumberId,
        PARLEY_META_ACCESS_TOKEN: meta.accessToken
      }
    }
  }).pipe(Effect.provide(NodeHttpClient.layerUndici))

  it.live("send prints the receipt of the provider that took the message", () =>
    Effect.gen(function*() {
      const network = yield* FakeNetwork.FakeNetwork
      const { env } = yield* emulators
      const sent = yield* parley(["send", "--to", "+31 6 1234 5678", "--text", "Your table is ready"], env)
      expect(sent.stderr).toBe("")
      expect(sent.code).toBe(0)
      expect(sent.stdout).toMatch(/^accepted by wawp as \S+ at \d{4}-\d\d-\d\dT/)
      const json = yield* parley(
        ["send", "--to", "+31612345678", "--text", "Through Callbell", "--provider", "callbell", "--json"],
        env
      )
      const receipt = JSON.parse(json.stdout)
      expect(receipt).toMatchObject({ provider: "callbell", status: "accepted" })
      const outbound = (yield* network.messages).filter((m) => m.direction === "outbound")
      expect(outbound.map((m) => [m.provider, m.content.kind === "text" ? m.content.text : ""])).toEqual([
        ["wawp", "Your table is ready"],
        ["callbell", "Through Callbell"]
      ])
      expect(outbound[1]!.id).toBe(receipt.messageId)
      const throughMeta = yield* parley(
        ["send", "--to", "+31612345678", "--text", "Through Meta", "--provider", "meta", "--json"],
        env
      )
      expect(JSON.parse(throughMeta.stdout)).toMatchObject({ provider: "meta", status: "accepted" })
      expect((yield* network.messages).filter((m) => m.direction === "outbound").at(-1)).toMatchObject({
        provider: "meta",
        content: { kind: "text", text: "Through Meta" }
      })

      const badChat = yield* parley(["send", "--to", "0612345678", "--text", "hi"], env)
      expect(badChat.code).toBe(2)
      expect(badChat.stderr).toContain("Write a phone number with its country code")
      const notConfigured = yield* parley(
        ["send", "--to", "+31612345678", "--text", "hi", "--provider", "chatsend"],
        env
      )
      expect(notConfigured.code).toBe(2)
      expect(notConfigured.stderr).toContain("Configured: wawp, meta, callbell")
    }).pipe(Effect.provide(FakeNetwork.layer({ autoAck: false }))), 60_000)

  it.live(
    "doctor passes a good configuration, and names the fix of each wrong setting with a non-zero exit",
    () =>
      Effect.gen(function*() {
        const { env } = yield* emulators
        const database = { PARLEY_DATABASE_URL: join(yield* tempDir, "parley.db") }
        expect((yield* parley(["migrate"], database)).code).toBe(0)

        const good = yield* parley(["doctor"], { ...env, ...database })
        expect(good.stdout).toContain("✔ provider wawp: settings present and well formed")
        expect(good.stdout).toContain("- provider wawp: credentials not checked")
        expect(good.stdout).toContain("✔ provider callbell: credentials accepted")
        expect(good.stdout).toContain("✔ provider meta: credentials accepted")
        expect(good.stdout).toContain("reachable, migrated (parley_engine)")
        expect(good.code).toBe(0)

        const wrong = yield* parley(["doctor", "--json"], {
          ...env,
          ...database,
          PARLEY_WAWP_BASE_URL: "api.wawp.net",
          PARLEY_CALLBELL_API_KEY: "not-the-key",
          PARLEY_META_PHONE_NUMBER_ID: "999"
        })
        expect(wrong.code).toBe(1)
        const problems = (JSON.parse(wrong.stdout) as Array<{ status: string; detail: string; fix?: string }>)
          .filter((c) => c.status === "problem")
        expect(problems).toEqual([
          expect.objectContaining({
            detail: `base URL "api.wawp.net" is not an http(s) URL`,
            fix: "Set PARLEY_WAWP_BASE_URL to the API's URL, e.g. https://…"
          }),
          expect.objectContaining({
            detail: expect.stringContaining("phone number id 999 is not one this access token may use"),
            fix: "Check PARLEY_META_ACCESS_TOKEN and PARLEY_META_PHONE_NUMBER_ID"
          }),
          expect.objectContaining({
            detail: expect.stringContaining("credentials rejected"),
            fix: "Check PARLEY_CALLBELL_API_KEY"
          })
        ])
        expect(wrong.stderr).toContain("✖ 3 problems found")
        // No credential is printed, wrong or right.
        expect(wrong.stdout + wrong.stderr + good.stdout).not.toContain(env.PARLEY_WAWP_ACCESS_TOKEN)
        expect(wrong.stdout + wrong.stderr + good.stdout).not.toContain(env.PARLEY_META_ACCESS_TOKEN)
        expect(wrong.stdout + wrong.stderr).not.toContain("not-the-key")

        const missing = yield* parley(["doctor"], { PARLEY_WAWP_ACCESS_TOKEN: "token", ...database })
        expect(missing.code).toBe(1)
        expect(missing.stdout).toContain("✖ provider wawp: settings:")
        expect(missing.stdout).toContain("PARLEY_WAWP_INSTANCE_ID")
      }).pipe(Effect.provide(FakeNetwork.layer({ autoAck: false }))),
    60_000
  )
})

if (Postgres.binaries !== undefined) {
  describe("parley on PostgreSQL", () => {
    it.live(
      "migrate, doctor and dead-letters list work on PARLEY_DATABASE_URL=postgres://…",
      () =>
        Effect.gen(function*() {
          const server = yield* Postgres.start
          const env = { PARLEY_DATABASE_URL: server.url("postgres") }
          expect((yield* parley(["migrate", "--json"], env)).stdout).toContain("parley_engine")
          const doctor = yield* parley(["doctor"], env)
          expect(doctor.stdout).toMatch(
            /✔ database postgres:\/\/parley@127\.0\.0\.1:\d+\/postgres: reachable, migrated/
          )
          const listed = yield* parley(["dead-letters", "list"], env)
          expect(listed).toMatchObject({ code: 0, stdout: "No dead letters.\n" })
        }),
      60_000
    )
  })
}
