/**
 * Dialogs as plain Effect code: `const name = yield* Conversation.ask("Your name?")`.
 *
 * How a dialog survives a restart: every operation on this service is a numbered step in the
 * dialog's journal, stored with the chat. When an event arrives for a chat with an open dialog, the
 * dialog's code runs again from the top and each step already in the journal returns its recorded
 * result without doing anything (no prompt is sent twice, no `step` runs twice); the first step
 * still waiting takes the new event as its answer; the dialog then runs on until it needs the next
 * answer, when it is suspended (its fiber ends; the journal is the whole of its state).
 *
 * Rules for dialog authors:
 * - Between steps, code must be deterministic: branch only on values that steps returned. Wrap
 *   anything else (clock, randomness, database reads, HTTP calls) in `Conversation.step(name, effect)`,
 *   which runs it once and records its result (JSON, or by a `Schema` you give).
 * - Send through `Conversation.reply`, not `MessagingService` directly, so replays do not send again.
 * - When dialog code changes, an open dialog whose journal no longer matches the code (a step of
 *   another kind or another prompt at the same position) is ended with a warning, and the chat
 *   returns to routing; unchanged prefixes keep working. Renaming a route ends its open dialogs.
 * - While a dialog waits on a timer (`sleep`) or on `waitFor`, messages that are not its answer are
 *   logged and dropped (cancel words still cancel).
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as ChatId from "./ChatId.js"
import type * as ConversationStore from "./ConversationStore.js"
import * as InboundEvent from "./InboundEvent.js"
import type * as Inbox from "./Inbox.js"
import * as Message from "./Message.js"
import type * as MessagingError from "./MessagingError.js"
import { Receipt } from "./Receipt.js"

/**
 * An `ask` (or `waitFor`) whose `timeout` passed with no answer. Catch it in the dialog to react;
 * uncaught, it ends the dialog quietly.
 *
 * @since 0.1.0
 * @category errors
 */
export class AskTimeout extends Schema.TaggedError<AskTimeout>()("AskTimeout", {
  prompt: Schema.String
}) {
  override get message(): string {
    return `no answer in time to: ${this.prompt}`
  }
}

/**
 * The dialog's code no longer matches its journal (it changed between versions). The engine ends the
 * dialog with a warning.
 *
 * @since 0.1.0
 * @category errors
 */
export class DialogChanged extends Schema.TaggedError<DialogChanged>()("DialogChanged", {
  step: Schema.Number,
  expected: Schema.String,
  found: Schema.String
}) {
  override get message(): string {
    return `dialog code changed at step ${this.step}: the journal has ${this.found}, the code now does ${this.expected}`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface AskOptions<A> {
  /** Decodes the answer's text; a failure re-prompts. */
  readonly schema?: Schema.Schema<A, string> | undefined
  /** Sent when the answer does not decode (default: the reason and the prompt again). */
  readonly retryPrompt?: string | undefined
  /** Fails the ask with `AskTimeout` when no answer comes in time (durable: survives restarts). */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The chat this dialog runs in. */
  readonly chat: ChatId.ChatId
  /** The message that started the dialog. */
  readonly trigger: InboundEvent.MessageReceived
  readonly ask: <A = string>(prompt: string | Message.Message, options?: AskOptions<A>) => Effect.Effect<A, AskTimeout>
  readonly choose: <const O extends string>(
    prompt: string,
    options: ReadonlyArray<O>,
    settings?: { readonly retryPrompt?: string | undefined; readonly timeout?: Duration.DurationInput | undefined }
  ) => Effect.Effect<O, AskTimeout>
  readonly reply: (message: string | Message.Message) => Effect.Effect<Receipt, MessagingError.MessagingError>
  readonly step: <A, E, R>(
    name: string,
    effect: Effect.Effect<A, E, R>,
    schema?: Schema.Schema<A, any>
  ) => Effect.Effect<A, E, R>
  readonly waitFor: (
    predicate: (event: InboundEvent.MessageReceived) => boolean,
    options?: { readonly timeout?: Duration.DurationInput | undefined; readonly description?: string | undefined }
  ) => Effect.Effect<InboundEvent.MessageReceived, AskTimeout>
  readonly sleep: (duration: Duration.DurationInput) => Effect.Effect<void>
  readonly remindAt: (at: Date, message: string | Message.Message) => Effect.Effect<void>
  readonly getState: (key: string) => Effect.Effect<Option.Option<unknown>>
  readonly setState: (key: string, value: unknown) => Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Conversation extends Context.Tag("@parley/core/Conversation")<Conversation, Service>() {}

/**
 * Sends `prompt` and waits for the answer's text, decoded by `schema` when given (a bad answer gets
 * `retryPrompt` and is asked again).
 *
 * @since 0.1.0
 * @category dialogs
 */
export const ask = <A = string>(
  prompt: string | Message.Message,
  options?: AskOptions<A>
): Effect.Effect<A, AskTimeout, Conversation> => Effect.flatMap(Conversation, (c) => c.ask(prompt, options))

/**
 * Sends a numbered list and waits for one of `options`, by number or by text.
 *
 * @since 0.1.0
 * @category dialogs
 */
export const choose = <const O extends string>(
  prompt: string,
  options: ReadonlyArray<O>,
  settings?: { readonly retryPrompt?: string | undefined; readonly timeout?: Duration.DurationInput | undefined }
): Effect.Effect<O, AskTimeout, Conversation> =>
  Effect.flatMap(Conversation, (c) => c.choose(prompt, options, settings))

/**
 * Sends a message to the chat (text, or any `Message`), once.
 *
 * @since 0.1.0
 * @category dialogs
 */
export const reply = (
  message: string | Message.Message
): Effect.Effect<Receipt, MessagingError.MessagingError, Conversation> =>
  Effect.flatMap(Conversation, (c) => c.reply(message))

/**
 * Runs a side effect once per dialog, even across restarts: its result is recorded (as JSON, or
 * with `schema`) and replayed.
 *
 * @since 0.1.0
 * @category dialogs
 */
export const step = <A, E, R>(
  name: string,
  effect: Effect.Effect<A, E, R>,
  schema?: Schema.Schema<A, any>
): Effect.Effect<A, E, R | Conversation> => Effect.flatMap(Conversation, (c) => c.step(name, effect, schema))

/**
 * Waits for the next message that satisfies `predicate`.
 *
 * @since 0.1.0
 * @category dialogs
 */
export const waitFor = (
  predicate: (event: InboundEvent.MessageReceived) => boolean,
  options?: { readonly timeout?: Duration.DurationInput | undefined; readonly description?: string | undefined }
): Effect.Effect<InboundEvent.MessageReceived, AskTimeout, Conversation> =>
  Effect.flatMap(Conversation, (c) => c.waitFor(predicate, options))

/**
 * Pauses the dialog durably: it holds no fiber meanwhile and resumes after a restart.
 *
 * @since 0.1.0
 * @category dialogs
 */
export const sleep = (duration: Duration.DurationInput): Effect.Effect<void, never, Conversation> =>
  Effect.flatMap(Conversation, (c) => c.sleep(duration))

/**
 * Sends `message` to the chat at `at` (durably), whatever the dialog does meanwhile. Outside the
 * 24 h window it becomes the bot's template fallback, if one is set.
 *
 * @since 0.1.0
 * @category dialogs
 */
export const remindAt = (at: Date, message: string | Message.Message): Effect.Effect<void, never, Conversation> =>
  Effect.flatMap(Conversation, (c) => c.remindAt(at, message))

/**
 * The chat this dialog runs in.
 *
 * @since 0.1.0
 * @category accessors
 */
export const chat: Effect.Effect<ChatId.ChatId, never, Conversation> = Effect.map(Conversation, (c) => c.chat)

/**
 * The message that started the dialog.
 *
 * @since 0.1.0
 * @category accessors
 */
export const trigger: Effect.Effect<InboundEvent.MessageReceived, never, Conversation> = Effect.map(
  Conversation,
  (c) => c.trigger
)

/**
 * Typed per-chat state that outlives dialogs: `const Prefs = Conversation.State("prefs", schema, initial)`,
 * then `yield* Prefs.get`, `yield* Prefs.set(value)`, `yield* Prefs.update(f)`.
 *
 * @since 0.1.0
 * @category state
 */
export const State = <A, I>(key: string, schema: Schema.Schema<A, I>, initial: A) => {
  const decode = Schema.decodeUnknown(schema)
  const encode = Schema.encode(schema)
  const get: Effect.Effect<A, never, Conversation> = Effect.flatMap(
    Conversation,
    (c) =>
      Effect.flatMap(
        c.getState(key),
        Option.match({ onNone: () => Effect.succeed(initial), onSome: (u) => Effect.orDie(decode(u)) })
      )
  )
  const set = (value: A): Effect.Effect<void, never, Conversation> =>
    Effect.flatMap(
      Conversation,
      (c) => Effect.flatMap(Effect.orDie(encode(value)), (encoded) => c.setState(key, encoded))
    )
  return { key, get, set, update: (f: (a: A) => A) => Effect.flatMap(get, (a) => set(f(a))) }
}

/**
 * The text of an inbound message: its text, or a media caption.
 *
 * @since 0.1.0
 * @category accessors
 */
export const textOf = (event: InboundEvent.MessageReceived): string | undefined => {
  switch (event.content._tag) {
    case "Text":
      return event.content.text
    case "Media":
      return event.content.caption
    default:
      return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// The journaling runtime the engine gives each dialog run.
// ---------------------------------------------------------------------------------------------

/**
 * What the engine gives a dialog run.
 *
 * @since 0.1.0
 * @category runtime
 */
export interface RunContext {
  readonly chat: ChatId.ChatId
  readonly dialog: ConversationStore.Dialog
  /** The event this run may consume as an answer, with its inbox id. */
  readonly input: Option.Option<{ readonly inboxId: number; readonly event: Inbox.Event }>
  readonly data: Record<string, unknown>
  /** Saves the dialog after each new journal entry. */
  readonly persist: (dialog: ConversationStore.Dialog) => Effect.Effect<void>
  readonly saveData: (data: Readonly<Record<string, unknown>>) => Effect.Effect<void>
  /** Sends once per `key` (idempotently), records the message, applies the 24 h window. */
  readonly send: (message: Message.Message, key: string) => Effect.Effect<Receipt, MessagingError.MessagingError>
  readonly scheduleTimer: (fireAt: number, payload: Inbox.TimerPayload) => Effect.Effect<number>
  readonly cancelTimer: (id: number) => Effect.Effect<void>
  /** Completed when the dialog must wait; the engine then stops the run. */
  readonly suspended: Deferred.Deferred<void>
}

const encodeReceipt = Schema.encodeSync(Receipt)
const decodeReceipt = Schema.decodeUnknownSync(Receipt)
const encodeEvent = Schema.encodeSync(InboundEvent.MessageReceived)
const decodeEvent = Schema.decodeUnknownSync(InboundEvent.MessageReceived)
const fingerprint = (message: string | Message.Message): string =>
  typeof message === "string"
    ? message
    : message._tag === "Text"
    ? message.text
    : `${message._tag}:${JSON.stringify(Schema.encodeSync(Message.Message)(message)).slice(0, 200)}`

/**
 * Builds the `Conversation` service for one run of a dialog.
 *
 * @since 0.1.0
 * @category runtime
 */
export const makeService = (context: RunContext): Service => {
  const journal = [...context.dialog.journal]
  const dialogId = context.dialog.id
  let cursor = 0
  const inputId = Option.map(context.input, (i) => i.inboxId)
  let inputConsumed = Option.match(inputId, {
    onNone: () => true,
    onSome: (id) => journal.some((entry) => entry.by === id)
  })
  const data = { ...context.data }

  const persist = Effect.suspend(() => context.persist({ ...context.dialog, journal: [...journal] }))
  const toMessage = (message: string | Message.Message) =>
    typeof message === "string" ? Message.text(context.chat, message) : message

  const suspend: Effect.Effect<never> = Effect.zipRight(Deferred.succeed(context.suspended, undefined), Effect.never)

  const at = (kind: string, key: string) =>
    Effect.suspend(() => {
      const index = cursor++
      const entry = journal[index]
      if (entry !== undefined && (entry.kind !== kind || entry.key !== key)) {
        return Effect.die(
          new DialogChanged({
            step: index,
            expected: `${kind} ${JSON.stringify(key)}`,
            found: `${entry.kind} ${JSON.stringify(entry.key)}`
          })
        )
      }
      return Effect.succeed({ index, entry })
    })

  const record = (index: number, entry: ConversationStore.JournalEntry) =>
    Effect.suspend(() => {
      journal[index] = entry
      return persist
    })

  // The input this waiting step may take, if it has not been taken.
  const takeInput = <A>(f: (event: Inbox.Event, inboxId: number) => Option.Option<A>): Option.Option<A> => {
    if (inputConsumed || Option.isNone(context.input)) return Option.none()
    const taken = f(context.input.value.event, context.input.value.inboxId)
    if (Option.isSome(taken)) inputConsumed = true
    return taken
  }

  const isTimerFor = (event: Inbox.Event, index: number) =>
    event._tag === "TimerFired" && event.payload._tag === "DialogTimer" && event.payload.dialogId === dialogId &&
    event.payload.step === index

  const schedule = (duration: Duration.DurationInput | undefined, index: number) =>
    duration === undefined
      ? Effect.succeed(undefined)
      : Effect.flatMap(
        Clock.currentTimeMillis,
        (now) =>
          context.scheduleTimer(now + Duration.toMillis(Duration.decode(duration)), {
            _tag: "DialogTimer",
            dialogId,
            step: index
          })
      )

  // The shared shape of `ask`, `choose` and `waitFor`: prompt once, then take answers until one decodes.
  const awaitAnswer = <A>(options: {
    readonly kind: string
    readonly key: string
    readonly prompt: Option.Option<Message.Message>
    readonly timeout: Duration.DurationInput | undefined
    /** Reads an answer from an event: the value to record, or a rejection to answer with (or ignore). */
    readonly accept: (event: InboundEvent.MessageReceived) => Either.Either<unknown, Option.Option<string>>
    readonly decode: (recorded: unknown) => A
  }): Effect.Effect<A, AskTimeout> =>
    Effect.gen(function*() {
      const { entry, index } = yield* at(options.kind, options.key)
      if (entry === undefined) {
        if (Option.isSome(options.prompt)) {
          yield* Effect.orDie(context.send(options.prompt.value, `${dialogId}:${index}`))
        }
        const timer = yield* schedule(options.timeout, index)
        yield* record(index, {
          kind: options.kind,
          key: options.key,
          done: false,
          ...(timer === undefined ? {} : { timer })
        })
      } else if (entry.done) {
        const value = entry.value as { readonly timedOut?: boolean; readonly answer?: unknown }
        if (value.timedOut) return yield* new AskTimeout({ prompt: options.key })
        return options.decode(value.answer)
      }
      const current = journal[index]!
      const taken = takeInput((event, inboxId) => {
        if (isTimerFor(event, index)) {
          return Option.some({ inboxId, result: Either.left(Option.none<string>()), timedOut: true })
        }
        if (event._tag !== "MessageReceived") {
          return Option.none()
        }
        return Option.some({ inboxId, result: options.accept(event), timedOut: false })
      })
      if (Option.isNone(taken)) return yield* suspend
      const { inboxId, result, timedOut } = taken.value
      if (timedOut) {
        yield* record(index, { ...current, done: true, value: { timedOut: true }, by: inboxId })
        return yield* new AskTimeout({ prompt: options.key })
      }
      if (Either.isLeft(result)) {
        if (Option.isSome(result.left)) {
          yield* Effect.orDie(context.send(toMessage(result.left.value), `${dialogId}:${index}:retry:${inboxId}`))
        }
        return yield* suspend
      }
      if (current.timer !== undefined) yield* context.cancelTimer(current.timer)
      yield* record(index, { ...current, done: true, value: { answer: result.right }, by: inboxId })
      return options.decode(result.right)
    })

  const ask = <A = string>(prompt: string | Message.Message, options?: AskOptions<A>): Effect.Effect<A, AskTimeout> => {
    const schema = options?.schema
    const decodeText = (text: string): Either.Either<A, string> =>
      schema === undefined
        ? Either.right(text as A)
        : Either.mapLeft(Schema.decodeEither(schema)(text), (error) => {
          const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
          return issue?.message ?? "invalid answer"
        })
    const key = fingerprint(prompt)
    return awaitAnswer({
      kind: "ask",
      key,
      prompt: Option.some(toMessage(prompt)),
      timeout: options?.timeout,
      accept: (event) => {
        const text = textOf(event)?.trim()
        if (text === undefined || text.length === 0) {
          return Either.left(Option.some(options?.retryPrompt ?? `Please answer with a text message.\n${key}`))
        }
        return Either.mapBoth(decodeText(text), {
          onLeft: (reason) => Option.some(options?.retryPrompt ?? `${reason}\n${key}`),
          onRight: () => text
        })
      },
      decode: (recorded) =>
        Either.getOrElse(decodeText(String(recorded)), (reason) => {
          throw new DialogChanged({ step: cursor - 1, expected: "an answer the schema accepts", found: reason })
        })
    })
  }

  const choose = <const O extends string>(
    prompt: string,
    options: ReadonlyArray<O>,
    settings?: { readonly retryPrompt?: string | undefined; readonly timeout?: Duration.DurationInput | undefined }
  ): Effect.Effect<O, AskTimeout> => {
    const text = `${prompt}\n${options.map((option, i) => `${i + 1}. ${option}`).join("\n")}`
    const pick = (answer: string): O | undefined => {
      const normalised = answer.trim().toLowerCase()
      const byNumber = /^\d+$/.test(normalised) ? options[Number(normalised) - 1] : undefined
      return byNumber ?? options.find((option) => option.toLowerCase() === normalised)
    }
    return awaitAnswer({
      kind: "choose",
      key: text,
      prompt: Option.some(Message.text(context.chat, text)),
      timeout: settings?.timeout,
      accept: (event) => {
        const choice = pick(textOf(event) ?? "")
        return choice === undefined
          ? Either.left(
            Option.some(settings?.retryPrompt ?? `Please reply with a number from 1 to ${options.length}.\n${text}`)
          )
          : Either.right(choice)
      },
      decode: (recorded) => {
        const choice = pick(String(recorded))
        if (choice === undefined) {
          throw new DialogChanged({
            step: cursor - 1,
            expected: `one of ${options.join(", ")}`,
            found: String(recorded)
          })
        }
        return choice
      }
    })
  }

  const waitFor = (
    predicate: (event: InboundEvent.MessageReceived) => boolean,
    options?: { readonly timeout?: Duration.DurationInput | undefined; readonly description?: string | undefined }
  ) =>
    awaitAnswer({
      kind: "wait",
      key: options?.description ?? "waitFor",
      prompt: Option.none(),
      timeout: options?.timeout,
      accept: (event) => predicate(event) ? Either.right(encodeEvent(event)) : Either.left(Option.none()),
      decode: (recorded) => decodeEvent(recorded)
    })

  const reply = (message: string | Message.Message) =>
    Effect.gen(function*() {
      const { entry, index } = yield* at("reply", fingerprint(message))
      if (entry?.done) return decodeReceipt(entry.value)
      const receipt = yield* context.send(toMessage(message), `${dialogId}:${index}`)
      yield* record(index, { kind: "reply", key: fingerprint(message), done: true, value: encodeReceipt(receipt) })
      return receipt
    })

  const step = <A, E, R>(name: string, effect: Effect.Effect<A, E, R>, schema?: Schema.Schema<A, any>) =>
    Effect.gen(function*() {
      const { entry, index } = yield* at("step", name)
      if (entry?.done) return schema ? Schema.decodeUnknownSync(schema)(entry.value) : entry.value as A
      const value = yield* effect
      yield* record(index, {
        kind: "step",
        key: name,
        done: true,
        value: schema ? Schema.encodeSync(schema)(value) : value
      })
      return value
    })

  const sleep = (duration: Duration.DurationInput) =>
    Effect.gen(function*() {
      const { entry, index } = yield* at("sleep", Duration.format(Duration.decode(duration)))
      if (entry?.done) return
      if (entry === undefined) {
        const timer = yield* schedule(duration, index)
        yield* record(index, {
          kind: "sleep",
          key: Duration.format(Duration.decode(duration)),
          done: false,
          ...(timer === undefined ? {} : { timer })
        })
      }
      const woke = takeInput((event, inboxId) => isTimerFor(event, index) ? Option.some(inboxId) : Option.none())
      if (Option.isNone(woke)) return yield* suspend
      yield* record(index, { ...journal[index]!, done: true, by: woke.value })
    })

  const remindAt = (when: Date, message: string | Message.Message) =>
    Effect.gen(function*() {
      const { entry, index } = yield* at("remind", fingerprint(message))
      if (entry?.done) return
      const timer = yield* context.scheduleTimer(when.getTime(), {
        _tag: "Reminder",
        message: toMessage(message)
      })
      yield* record(index, { kind: "remind", key: fingerprint(message), done: true, timer })
    })

  const getState = (key: string) =>
    Effect.gen(function*() {
      const { entry, index } = yield* at("get", key)
      if (entry?.done) return Option.fromNullable(entry.value)
      const value = data[key]
      yield* record(index, { kind: "get", key, done: true, ...(value === undefined ? {} : { value }) })
      return Option.fromNullable(value)
    })

  const setState = (key: string, value: unknown) =>
    Effect.gen(function*() {
      const { entry, index } = yield* at("set", key)
      if (entry?.done) return
      data[key] = value
      yield* context.saveData(data)
      yield* record(index, { kind: "set", key, done: true })
    })

  return {
    chat: context.chat,
    trigger: context.dialog.event,
    ask,
    choose,
    reply,
    step,
    waitFor,
    sleep,
    remindAt,
    getState,
    setState
  }
}

/**
 * Reads a chat id the engine stored.
 *
 * @since 0.1.0
 * @category runtime
 */
export const parseChat = (chat: string): ChatId.ChatId => Either.getOrThrow(ChatId.parse(chat))
