/**
 * Several engines on one PostgreSQL database, in one process: each chat is handled by one instance at a
 * time, in the order its events were accepted, whichever instance accepted them, and their transactions
 * never deadlock.
 */
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it, layer } from "@effect/vitest"
import { Bot, ChatId, Conversation, Inbox, MessagingService } from "@parley/core"
import { Postgres } from "@parley/testing"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { postgresBin, startPostgres } from "./fixtures/databases.js"
import { recorder, says, settled } from "./fixtures/engine.js"

class PgServer extends Context.Service<PgServer, Postgres.Server>()("PgServer") {}
class Instance extends Context.Service<Instance, string>()("Instance") {}

interface Handling {
  readonly chat: string
  readonly instance: string
  readonly start: number
  readonly end: number
}

if (postgresBin !== undefined) {
  layer(Layer.effect(PgServer, startPostgres), { timeout: "60 seconds", excludeTestServices: true })(
    "several instances on PostgreSQL",
    (it) => {
      it.effect(
        "two instances, webhooks alternating between them: each chat in order, by one instance at a time",
        () =>
          Effect.gen(function*() {
            const url = yield* Postgres.createDatabase(yield* PgServer)
            const database = PgClient.layer({ url: Redacted.make(url) })
            const out = yield* recorder
            const handled: Array<Handling> = []
            let clock = 0
            const track = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
              Effect.gen(function*() {
                const chat = (yield* Conversation.chat).toString()
                const instance = yield* Instance
                const start = ++clock
                const result = yield* effect
                handled.push({ chat, instance, start, end: ++clock })
                return result
              })
            const bot = Bot.make<Instance>({
              routes: [
                Bot.keyword(
                  "start",
                  Effect.gen(function*() {
                    const first = yield* track(Conversation.ask("q1?"))
                    const second = yield* track(Conversation.ask("q2?"))
                    yield* track(Conversation.reply(`done ${first}|${second}`))
                  })
                )
              ]
            })
            const instance = (name: string) =>
              Effect.map(
                Layer.build(
                  Bot.layer(bot, { instanceId: name, leaseTtl: "10 seconds" }).pipe(
                    Layer.provideMerge(Bot.layerStore),
                    Layer.provide(Layer.succeed(MessagingService.MessagingService, out.service)),
                    Layer.provide(Layer.succeed(Instance, name)),
                    Layer.provide(database)
                  )
                ),
                (context) => Context.get(context, Inbox.Inbox)
              )
            // The instances live in a scope of their own, closed before the database's statistics are read.
            const instances = yield* Scope.make()
            const inboxes = yield* Scope.provide(Effect.all([instance("a"), instance("b")]), instances)
            const users = 120
            const chat = (user: number) => ChatId.phone(`+3162${String(user).padStart(7, "0")}`)
            const replies = new Map<string, Array<string>>()
            const inboxOf = new Map<string, Queue.Queue<string>>()
            const repliesTo = (user: number) => {
              const key = chat(user).toString()
              if (!inboxOf.has(key)) inboxOf.set(key, Effect.runSync(Queue.unbounded<string>()))
              return inboxOf.get(key)!
            }
            out.all.length = 0
            // Each user's messages go to the two instances in turn; a user answers once asked.
            let webhook = 0
            const say = (user: number, text: string) => inboxes[webhook++ % 2]!.enqueue([says(text, chat(user))])
            const awaitReply = (user: number) => Queue.take(repliesTo(user))
            for (let user = 0; user < users; user++) repliesTo(user)
            yield* Effect.forkChild(Effect.forever(Effect.map(out.nextSent, (sent) => {
              const to = sent.message.to.toString()
              const text = sent.message._tag === "Text" ? sent.message.text : "?"
              replies.set(to, [...(replies.get(to) ?? []), text])
              const queue = inboxOf.get(to)
              if (queue !== undefined) Queue.offerUnsafe(queue, text)
            })))
            yield* Effect.forEach(Array.from({ length: users }, (_, u) => u), (user) =>
              Effect.gen(function*() {
                yield* say(user, "start")
                yield* awaitReply(user)
                yield* say(user, `a${user}`)
                yield* awaitReply(user)
                yield* say(user, `b${user}`)
                yield* awaitReply(user)
              }), { concurrency: 60, discard: true }).pipe(Effect.timeout("60 seconds"))

            for (let user = 0; user < users; user++) {
              expect(replies.get(chat(user).toString())).toEqual(["q1?", "q2?", `done a${user}|b${user}`])
            }
            // Both instances took part, and no chat was ever handled by both at once.
            expect(new Set(handled.map((h) => h.instance))).toEqual(new Set(["a", "b"]))
            const byChat = new Map<string, Array<Handling>>()
            for (const h of handled) byChat.set(h.chat, [...(byChat.get(h.chat) ?? []), h])
            for (const steps of byChat.values()) {
              const sorted = [...steps].sort((x, y) => x.start - y.start)
              for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.start).toBeGreaterThan(sorted[i - 1]!.end)
            }

            // No two transactions of the instances ever waited for each other in a cycle: PostgreSQL
            // detected no deadlock. (A backend reports its statistics as it exits, before it leaves
            // pg_stat_activity: once the instances' connections are gone, the count is complete.)
            yield* Scope.close(instances, Exit.void)
            expect(yield* Postgres.deadlocks(url)).toBe(0)
          }),
        60_000
      )

      it.effect(
        "one worker: a chat whose next event is waiting hands it back while another chat waits",
        () =>
          Effect.gen(function*() {
            const url = yield* Postgres.createDatabase(yield* PgServer)
            const out = yield* recorder
            const a = ChatId.phone("+31620000001")
            const b = ChatId.phone("+31620000002")
            const handled: Array<string> = []
            const bot = Bot.make<never>({
              routes: [],
              fallback: Effect.gen(function*() {
                const chat = yield* Conversation.chat
                handled.push(
                  `${chat.toString() === a.toString() ? "a" : "b"}:${Conversation.textOf(yield* Conversation.trigger)}`
                )
              })
            })
            const inbox = Context.get(
              yield* Layer.build(
                Bot.layer(bot, { instanceId: "solo", concurrency: 1 }).pipe(
                  Layer.provideMerge(Bot.layerStore),
                  Layer.provide(Layer.succeed(MessagingService.MessagingService, out.service)),
                  Layer.provide(PgClient.layer({ url: Redacted.make(url) }))
                )
              ),
              Inbox.Inbox
            )
            yield* inbox.enqueue([says("1", a), says("2", a), says("3", a), says("1", b)])
            yield* settled(inbox)
            // Chat b's only event comes after a's first, not after all three of a's; a's stay in order, and the
            // chat stays this instance's while it waits (its session kept: one read of the chat, no new hold).
            expect(handled).toEqual(["a:1", "b:1", "a:2", "a:3"])
            expect(yield* Postgres.query(url, `SELECT lease_token FROM parley_conversations WHERE chat = '${a}'`))
              .toBe("1")
          }),
        60_000
      )

      it.effect(
        "a replayed dead letter takes its chat's next number: the chat's later messages are still handled",
        () =>
          Effect.gen(function*() {
            const url = yield* Postgres.createDatabase(yield* PgServer)
            const out = yield* recorder
            let broken = true
            const bot = Bot.make<never>({
              routes: [],
              fallback: Effect.gen(function*() {
                const text = Conversation.textOf(yield* Conversation.trigger) ?? ""
                if (text === "crash" && broken) return yield* Effect.fail("the booking service is down")
                yield* Conversation.reply(`ok ${text}`)
              })
            })
            const context = yield* Layer.build(
              Bot.layer(bot, { instanceId: "solo", retry: Schedule.recurs(0) }).pipe(
                Layer.provideMerge(Bot.layerStore),
                Layer.provide(Layer.succeed(MessagingService.MessagingService, out.service)),
                Layer.provide(PgClient.layer({ url: Redacted.make(url) }))
              )
            )
            const inbox = Context.get(context, Inbox.Inbox)
            const a = ChatId.phone("+31620000011")
            const b = ChatId.phone("+31620000012")
            // Chat b's events take inbox ids, so a's ids and a's numbers in its own order differ.
            yield* inbox.enqueue([says("1", b), says("2", b), says("3", b), says("hi", a)])
            yield* inbox.enqueue([says("crash", a)])
            yield* settled(inbox)
            const [dead] = yield* inbox.deadLetters
            broken = false
            expect(yield* inbox.replay([dead!.id])).toEqual([dead!.id])
            yield* settled(inbox)
            yield* inbox.enqueue([says("after", a)])
            yield* settled(inbox).pipe(Effect.timeout("10 seconds"))
            expect(
              out.all.filter((s) => s.message.to.toString() === a.toString()).map((s) =>
                s.message._tag === "Text" ? s.message.text : "?"
              )
            )
              .toEqual(["ok hi", "ok crash", "ok after"])
          }),
        60_000
      )

      it.effect(
        "an instance whose hold lapsed mid-handler stops it before its next send: no error or defect in the dialog, no dead letter, the event left to the new holder",
        () =>
          Effect.gen(function*() {
            const url = yield* Postgres.createDatabase(yield* PgServer)
            const out = yield* recorder
            const started = yield* Deferred.make<void>()
            const proceed = yield* Deferred.make<void>()
            const stopped = yield* Deferred.make<void>()
            const seen: Array<string> = []
            const bot = Bot.make<never>({
              routes: [],
              fallback: Effect.gen(function*() {
                yield* Deferred.succeed(started, undefined)
                yield* Deferred.await(proceed)
                yield* Conversation.reply("too late").pipe(
                  Effect.catch((error) => Effect.sync(() => seen.push(`error ${String(error)}`))),
                  Effect.catchDefect((defect) => Effect.sync(() => seen.push(`defect ${String(defect)}`))),
                  Effect.onInterrupt(() => Deferred.succeed(stopped, undefined))
                )
                seen.push("went on")
              })
            })
            const context = yield* Layer.build(
              Bot.layer(bot, { instanceId: "a", leaseTtl: "1 second", retry: Schedule.recurs(0) }).pipe(
                Layer.provideMerge(Bot.layerStore),
                Layer.provide(Layer.succeed(MessagingService.MessagingService, out.service)),
                Layer.provide(PgClient.layer({ url: Redacted.make(url) }))
              )
            )
            const inbox = Context.get(context, Inbox.Inbox)
            const a = ChatId.phone("+31620000009")
            yield* inbox.enqueue([says("hello", a)])
            yield* Deferred.await(started)
            // Another instance takes the chat, as it would once a's hold lapsed while a was paused; a's
            // renewals find nothing of theirs to renew, and its own hold runs out.
            yield* Postgres.query(
              url,
              `UPDATE parley_conversations SET lease_owner = 'b', lease_token = lease_token + 1,
                lease_until = lease_until + 3600000 WHERE chat = '${a}'`
            )
            yield* Effect.sleep("1500 millis")
            yield* Deferred.succeed(proceed, undefined)
            yield* Deferred.await(stopped).pipe(Effect.timeout("10 seconds"))
            expect(seen).toEqual([])
            expect(out.all).toEqual([])
            expect(yield* inbox.pendingCount).toBe(1)
            expect(yield* inbox.deadLetters).toEqual([])
          }),
        60_000
      )
    }
  )
} else if (process.env.CI === "true") {
  // `.ci/run` installs PostgreSQL, so CI never gets here without failing; elsewhere, say what did not run.
  describe("several instances on PostgreSQL", () => {
    it("PostgreSQL is installed", () => {
      throw new Error("PostgreSQL binaries not found; .ci/run installs them")
    })
  })
} else {
  console.warn("!!! PostgreSQL binaries not found: the several-instances suite did not run. `.ci/run` installs them.")
}
