/**
 * A dialog: the `Conversation` service for one run of a bot's handler over its journal (the replay
 * runtime, `replay.ts`). Each operation is a step: `reply`, `step`, `remindAt`, `getState` and `setState`
 * are actions that run once; `ask`, `choose`, `waitFor` and `sleep` wait for an input (a message, or their
 * timer), which the run takes from the event being handled.
 *
 * Sends go through the engine (`Host.send`: the chat's provider, its window, the messages recorded);
 * a send's error reaches the dialog typed (`MessagingError`), from `ask` and `choose` as from `reply`. Where
 * this instance no longer holds the chat, a step that would send stops the run instead (`LeaseLost`), and
 * the dialog never sees it.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import type * as ChatId from "../../ChatId.js"
import * as Conversation from "../../Conversation.js"
import * as InboundEvent from "../../InboundEvent.js"
import type * as Inbox from "../../Inbox.js"
import * as Message from "../../Message.js"
import type * as MessagingError from "../../MessagingError.js"
import { Receipt } from "../../Receipt.js"
import * as Replay from "./replay.js"
import type * as rows from "./rows.js"

/** What a run of a dialog needs from the engine. @internal */
export interface Host {
  readonly chat: ChatId.ChatId
  /** Whether this instance still holds the chat: a step that would send stops the run when it does not. */
  readonly held: () => boolean
  /** Sends through the chat's provider, inside the 24 h window or as its template, and records the message. */
  readonly send: (message: Message.Message, key: string) => Effect.Effect<Receipt, MessagingError.MessagingError>
  /** The chat's typed state (changed in place; `dataChanged` says so). */
  readonly data: Record<string, unknown>
  readonly dataChanged: () => void
  readonly setTimer: (key: string, fireAt: number, payload: Conversation.TimerPayload) => void
  readonly cancelTimer: (timer: string | number) => void
}

/** The key of the timer a dialog's step sets. @internal */
export const timerKey = (dialogId: string, step: number) => `${dialogId}:${step}`

const encodeReceipt = Schema.encodeSync(Receipt)
const decodeReceipt = Schema.decodeUnknownSync(Receipt)
const receiptCodec: Replay.Codec<Receipt> = { encode: encodeReceipt, decode: decodeReceipt }
const encodeEvent = Schema.encodeSync(InboundEvent.MessageReceived)
const decodeEvent = Schema.decodeUnknownSync(InboundEvent.MessageReceived)
const encodeMessage = Schema.encodeSync(Message.Message)
// A step's key for a prompt or reply. A message other than text is keyed by its JSON with `_tag` last, as
// Effect 3 encoded it (Effect 4 puts it first), so journals written before the move still match.
const fingerprint = (message: string | Message.Message): string => {
  if (typeof message === "string") return message
  if (message._tag === "Text") return message.text
  const { _tag, ...fields } = encodeMessage(message)
  return `${message._tag}:${JSON.stringify({ ...fields, _tag }).slice(0, 200)}`
}

// An answer that does not decode is answered with the first issue's message.
const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1()

// A step's recorded value as it is (JSON already), or nothing.
const asIs: Replay.Codec<any> = { encode: (value) => value, decode: (recorded) => recorded }
const nothing: Replay.Codec<void> = { encode: () => undefined, decode: () => undefined }

/**
 * Runs `handler` as the dialog `dialog`, with `input` as the answer it may take: the run's result, and
 * the journal to keep.
 *
 * @internal
 */
export const run = <R>(
  handler: Effect.Effect<void, unknown, Conversation.Conversation | R>,
  dialog: rows.Dialog,
  input: Replay.Input | undefined,
  host: Host,
  context: Context.Context<R>
): Effect.Effect<Replay.ReplayResult> =>
  Effect.suspend(() => {
    const replay = new Replay.Replay(dialog.journal, input)
    const service = make(dialog, replay, host)
    // One context for the run (each provide merges a context into the fiber's, and restores it after).
    return Replay.run(Effect.provideContext(handler, Context.add(context, Conversation.Conversation, service)), replay)
  })

/** The `Conversation` service over `replay`: each operation is one of the steps below. @internal */
export const make = (dialog: rows.Dialog, replay: Replay.Replay, host: Host): Conversation.Service => {
  const run = new Run(dialog.id, replay, host)
  return {
    chat: host.chat,
    trigger: dialog.event,
    ask: (prompt, options) => ask(run, prompt, options),
    choose: (prompt, options, settings) => choose(run, prompt, options, settings),
    reply: (message) => reply(run, message),
    step: (name, effect, schema) => step(run, name, effect, schema),
    waitFor: (predicate, options) => waitFor(run, predicate, options),
    sleep: (duration) => sleep(run, duration),
    remindAt: (at, message) => remindAt(run, at, message),
    getState: (key) => getState(run, key),
    setState: (key, value) => setState(run, key, value)
  }
}

/** One run of a dialog: its journal's replay, and the engine's side. */
class Run {
  constructor(readonly dialogId: string, readonly replay: Replay.Replay, readonly host: Host) {}

  toMessage(message: string | Message.Message): Message.Message {
    return typeof message === "string" ? Message.text(this.host.chat, message) : message
  }

  /** Sends once per key; where the chat is no longer this instance's, stops the run instead. */
  send(message: Message.Message, key: string): Effect.Effect<Receipt, MessagingError.MessagingError> {
    return this.host.held() ? this.host.send(message, key) : this.replay.leaseLost
  }

  /** Whether `event` is the timer of the step at `index`. */
  isTimerFor(event: Inbox.Event, index: number): boolean {
    return event._tag === "TimerFired" && event.payload._tag === "DialogTimer" &&
      event.payload.dialogId === this.dialogId && event.payload.step === index
  }

  /** Sets the timer of the step at `index`, `duration` from now: its key. */
  schedule(duration: Duration.Input | undefined, index: number): Effect.Effect<string | undefined> {
    if (duration === undefined) return Effect.succeed(undefined)
    return Effect.map(Clock.currentTimeMillis, (now) => {
      const key = timerKey(this.dialogId, index)
      this.host.setTimer(key, now + Duration.toMillis(Duration.fromInputUnsafe(duration)), {
        _tag: "DialogTimer",
        dialogId: this.dialogId,
        step: index
      })
      return key
    })
  }
}

/**
 * The shared shape of `ask`, `choose` and `waitFor`: prompt once (and set the timeout's timer), then take
 * inputs until one is an answer that decodes; a rejected answer gets its retry prompt.
 */
const awaitAnswer = <A>(run: Run, options: {
  readonly kind: string
  readonly key: string
  readonly prompt: Option.Option<Message.Message>
  readonly timeout: Duration.Input | undefined
  /** Reads an answer from an event: the value to record, or a rejection to answer with (or ignore). */
  readonly accept: (event: InboundEvent.MessageReceived) => Result.Result<unknown, Option.Option<string>>
  /** The recorded answer's value, or why the code no longer accepts it. */
  readonly decode: (recorded: unknown) => Result.Result<A, { readonly expected: string; readonly found: string }>
}): Effect.Effect<A, Conversation.AskTimeout | MessagingError.MessagingError> =>
  Effect.gen(function*() {
    const { dialogId, host, replay } = run
    const { entry, index } = yield* replay.next(options.kind, options.key)
    const decoded = (recorded: unknown) => {
      const value = options.decode(recorded)
      return Result.isSuccess(value)
        ? Effect.succeed(value.success)
        : replay.end(new Conversation.DialogChanged({ step: index, ...value.failure }).message)
    }
    if (entry === undefined) {
      if (Option.isSome(options.prompt)) yield* run.send(options.prompt.value, `${dialogId}:${index}`)
      const timer = yield* run.schedule(options.timeout, index)
      replay.record(index, {
        kind: options.kind,
        key: options.key,
        done: false,
        ...(timer === undefined ? {} : { timer })
      })
    } else if (entry.done) {
      const value = entry.value as { readonly timedOut?: boolean; readonly answer?: unknown }
      if (value.timedOut) return yield* new Conversation.AskTimeout({ prompt: options.key })
      return yield* decoded(value.answer)
    }
    const current = replay.entry(index)!
    const taken = replay.take(({ event, inboxId }) => {
      if (run.isTimerFor(event, index)) {
        return Option.some({ inboxId, result: Result.fail(Option.none<string>()), timedOut: true })
      }
      if (event._tag !== "MessageReceived") return Option.none()
      return Option.some({ inboxId, result: options.accept(event), timedOut: false })
    })
    if (Option.isNone(taken)) return yield* replay.suspend
    const { inboxId, result, timedOut } = taken.value
    if (timedOut) {
      replay.record(index, { ...current, done: true, value: { timedOut: true }, by: inboxId })
      return yield* new Conversation.AskTimeout({ prompt: options.key })
    }
    if (Result.isFailure(result)) {
      if (Option.isSome(result.failure)) {
        yield* run.send(run.toMessage(result.failure.value), `${dialogId}:${index}:retry:${inboxId}`)
      }
      return yield* replay.suspend
    }
    if (current.timer !== undefined) host.cancelTimer(current.timer)
    replay.record(index, { ...current, done: true, value: { answer: result.success }, by: inboxId })
    return yield* decoded(result.success)
  })

const ask = <A = string>(
  run: Run,
  prompt: string | Message.Message,
  options?: Conversation.AskOptions<A>
): Effect.Effect<A, Conversation.AskTimeout | MessagingError.MessagingError> => {
  const schema = options?.schema
  const decodeText = (text: string): Result.Result<A, string> =>
    schema === undefined
      ? Result.succeed(text as A)
      : Result.mapError(Schema.decodeResult(schema)(text), (error) => {
        const [issue] = formatIssue(error.issue).issues
        return issue?.message ?? "invalid answer"
      })
  const key = fingerprint(prompt)
  return awaitAnswer(run, {
    kind: "ask",
    key,
    prompt: Option.some(run.toMessage(prompt)),
    timeout: options?.timeout,
    accept: (event) => {
      const text = Conversation.textOf(event)?.trim()
      if (text === undefined || text.length === 0) {
        return Result.fail(Option.some(options?.retryPrompt ?? `Please answer with a text message.\n${key}`))
      }
      return Result.mapBoth(decodeText(text), {
        onFailure: (reason) => Option.some(options?.retryPrompt ?? `${reason}\n${key}`),
        onSuccess: () => text
      })
    },
    decode: (recorded) =>
      Result.mapError(decodeText(String(recorded)), (reason) => ({
        expected: "an answer the schema accepts",
        found: reason
      }))
  })
}

const choose = <const O extends string>(
  run: Run,
  prompt: string,
  options: ReadonlyArray<O>,
  settings?: { readonly retryPrompt?: string | undefined; readonly timeout?: Duration.Input | undefined }
): Effect.Effect<O, Conversation.AskTimeout | MessagingError.MessagingError> => {
  // Keyed by the text it is in the journal (what a provider without buttons shows), sent as buttons:
  // interactive where the provider has them, that same numbered text elsewhere.
  const text = Message.choiceText(prompt, options)
  const distinct = new Set(options.map((option) => option.toLowerCase())).size === options.length
  const question = options.length > 0 && distinct
    ? Message.buttons(run.host.chat, {
      body: prompt,
      options: options as unknown as readonly [string, ...Array<string>]
    })
    : Message.text(run.host.chat, text)
  const pick = (answer: string): O | undefined => {
    const normalised = answer.trim().toLowerCase()
    const byNumber = /^\d+$/.test(normalised) ? options[Number(normalised) - 1] : undefined
    return byNumber ?? options.find((option) => option.toLowerCase() === normalised)
  }
  return awaitAnswer(run, {
    kind: "choose",
    key: text,
    prompt: Option.some(question),
    timeout: settings?.timeout,
    accept: (event) => {
      const choice = pick(Conversation.textOf(event) ?? "")
      return choice === undefined
        ? Result.fail(
          Option.some(settings?.retryPrompt ?? `Please reply with a number from 1 to ${options.length}.\n${text}`)
        )
        : Result.succeed(choice)
    },
    decode: (recorded) => {
      const choice = pick(String(recorded))
      return choice === undefined
        ? Result.fail({ expected: `one of ${options.join(", ")}`, found: String(recorded) })
        : Result.succeed(choice)
    }
  })
}

const waitFor = (
  run: Run,
  predicate: (event: InboundEvent.MessageReceived) => boolean,
  options?: { readonly timeout?: Duration.Input | undefined; readonly description?: string | undefined }
): Effect.Effect<InboundEvent.MessageReceived, Conversation.AskTimeout> =>
  awaitAnswer(run, {
    kind: "wait",
    key: options?.description ?? "waitFor",
    prompt: Option.none(),
    timeout: options?.timeout,
    accept: (event) => predicate(event) ? Result.succeed(encodeEvent(event)) : Result.fail(Option.none()),
    decode: (recorded) => Result.succeed(decodeEvent(recorded))
  }) as Effect.Effect<InboundEvent.MessageReceived, Conversation.AskTimeout> // (no prompt: nothing to send)

const reply = (run: Run, message: string | Message.Message) =>
  run.replay.once(
    "reply",
    fingerprint(message),
    (index) => run.send(run.toMessage(message), `${run.dialogId}:${index}`),
    receiptCodec
  )

const step = <A, E, R>(run: Run, name: string, effect: Effect.Effect<A, E, R>, schema?: Schema.Codec<A, any>) =>
  run.replay.once(
    "step",
    name,
    () => effect,
    schema ? { encode: Schema.encodeSync(schema), decode: Schema.decodeUnknownSync(schema) } : asIs
  )

const sleep = (run: Run, duration: Duration.Input) =>
  Effect.gen(function*() {
    const { replay } = run
    const key = Duration.format(Duration.fromInputUnsafe(duration))
    const { entry, index } = yield* replay.next("sleep", key)
    if (entry?.done) return
    if (entry === undefined) {
      const timer = yield* run.schedule(duration, index)
      replay.record(index, { kind: "sleep", key, done: false, ...(timer === undefined ? {} : { timer }) })
    }
    const woke = replay.take(({ event, inboxId }) =>
      run.isTimerFor(event, index) ? Option.some(inboxId) : Option.none()
    )
    if (Option.isNone(woke)) return yield* replay.suspend
    replay.record(index, { ...replay.entry(index)!, done: true, by: woke.value })
  })

const remindAt = (run: Run, when: Date, message: string | Message.Message) =>
  Effect.gen(function*() {
    const key = fingerprint(message)
    const { entry, index } = yield* run.replay.next("remind", key)
    if (entry?.done) return
    const timer = timerKey(run.dialogId, index)
    run.host.setTimer(timer, when.getTime(), { _tag: "Reminder", message: run.toMessage(message) })
    run.replay.record(index, { kind: "remind", key, done: true, timer })
  })

const getState = (run: Run, key: string) =>
  Effect.map(
    run.replay.once("get", key, () => Effect.sync(() => run.host.data[key]), asIs),
    (value) => Option.fromNullishOr(value)
  )

const setState = (run: Run, key: string, value: unknown) =>
  run.replay.once(
    "set",
    key,
    () =>
      Effect.sync(() => {
        run.host.data[key] = value
        run.host.dataChanged()
      }),
    nothing
  )
