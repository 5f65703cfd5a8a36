/**
 * The dialog runtime: the `Conversation` service for one run of a dialog over its journal.
 *
 * The dialog's code runs from the top on every event; each step already in the journal returns its
 * recorded result without doing anything; the first step still waiting takes the event as its answer
 * (or, when the event is not for it, the run stops there); new steps are appended. Nothing is written
 * here: the journal, the state and the timers live in the chat's session, and the engine commits them
 * with the event. A run that must wait for an answer ends its fiber (by interruption, which a dialog's
 * `Effect.catch` does not catch), and the journal is then the whole of the dialog's state.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
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
import type * as rows from "./rows.js"

/** What a run of a dialog needs from the engine. @internal */
export interface Host {
  readonly chat: ChatId.ChatId
  /** The event this run may take as an answer, with its inbox id. */
  readonly input: Option.Option<{ readonly inboxId: number; readonly event: Inbox.Event }>
  /** The chat's typed state (changed in place; `dataChanged` says so). */
  readonly data: Record<string, unknown>
  readonly dataChanged: () => void
  /** Sends once per `key` within the event, records the message, applies the 24 h window. */
  readonly send: (message: Message.Message, key: string) => Effect.Effect<Receipt, MessagingError.MessagingError>
  readonly setTimer: (key: string, fireAt: number, payload: Conversation.TimerPayload) => void
  readonly cancelTimer: (timer: string | number) => void
}

/** How a run ended. @internal */
export type Outcome =
  | { readonly _tag: "Waiting"; readonly dialog: rows.Dialog }
  | { readonly _tag: "Finished"; readonly reason: Option.Option<string> }

const encodeReceipt = Schema.encodeSync(Receipt)
const decodeReceipt = Schema.decodeUnknownSync(Receipt)
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

/** The key of the timer a dialog's step sets. @internal */
export const timerKey = (dialogId: string, step: number) => `${dialogId}:${step}`

/** A run that failed, with the journal as far as it got (its sends are not to be repeated). @internal */
export interface Failed {
  readonly cause: Cause.Cause<unknown>
  readonly dialog: rows.Dialog
}

/**
 * Runs `handler` as the dialog `dialog` with the `Conversation` service over its journal: waiting for
 * an answer, finished (a timeout nobody caught, or code that no longer matches the journal, end it
 * quietly), or failed with the handler's cause.
 *
 * @internal
 */
export const run = <R>(
  handler: Effect.Effect<void, unknown, Conversation.Conversation | R>,
  dialog: rows.Dialog,
  host: Host,
  context: Context.Context<R>
): Effect.Effect<Outcome, Failed> =>
  Effect.suspend(() => {
    const runtime = make(dialog, host)
    return Effect.flatMap(
      // One context for the run (each provide merges a context into the fiber's, and restores it after).
      Effect.exit(Effect.provideContext(handler, Context.add(context, Conversation.Conversation, runtime.service))),
      (exit): Effect.Effect<Outcome, Failed> => {
        if (Exit.isSuccess(exit)) return Effect.succeed({ _tag: "Finished", reason: Option.none() })
        if (runtime.waiting() && Cause.hasInterruptsOnly(exit.cause)) {
          return Effect.succeed({ _tag: "Waiting", dialog: runtime.dialog() })
        }
        const failure = Cause.findErrorOption(exit.cause)
        if (Option.isSome(failure) && failure.value instanceof Conversation.AskTimeout) {
          return Effect.succeed({ _tag: "Finished", reason: Option.some(failure.value.message) })
        }
        const defect = Cause.findDefect(exit.cause)
        if (Result.isSuccess(defect) && defect.success instanceof Conversation.DialogChanged) {
          return Effect.succeed({ _tag: "Finished", reason: Option.some(defect.success.message) })
        }
        return Effect.fail({ cause: exit.cause, dialog: runtime.dialog() })
      }
    )
  })

const make = (dialog: rows.Dialog, host: Host) => {
  const journal: Array<rows.JournalEntry> = [...dialog.journal]
  const dialogId = dialog.id
  let cursor = 0
  let waiting = false
  let inputTaken = Option.match(host.input, {
    onNone: () => true,
    onSome: (input) => journal.some((entry) => entry.by === input.inboxId)
  })

  const toMessage = (message: string | Message.Message) =>
    typeof message === "string" ? Message.text(host.chat, message) : message

  // Ends this run's fiber: the dialog waits for its next event.
  const wait: Effect.Effect<never> = Effect.suspend(() => {
    waiting = true
    return Effect.interrupt
  })

  const at = (kind: string, key: string) =>
    Effect.suspend(() => {
      const index = cursor++
      const entry = journal[index]
      if (entry !== undefined && (entry.kind !== kind || entry.key !== key)) {
        return Effect.die(
          new Conversation.DialogChanged({
            step: index,
            expected: `${kind} ${JSON.stringify(key)}`,
            found: `${entry.kind} ${JSON.stringify(entry.key)}`
          })
        )
      }
      return Effect.succeed({ index, entry })
    })

  const record = (index: number, entry: rows.JournalEntry) => {
    journal[index] = entry
  }

  // The input this waiting step may take, if no step has taken it.
  const takeInput = <A>(f: (event: Inbox.Event, inboxId: number) => Option.Option<A>): Option.Option<A> => {
    if (inputTaken || Option.isNone(host.input)) return Option.none()
    const taken = f(host.input.value.event, host.input.value.inboxId)
    if (Option.isSome(taken)) inputTaken = true
    return taken
  }

  const isTimerFor = (event: Inbox.Event, index: number) =>
    event._tag === "TimerFired" && event.payload._tag === "DialogTimer" && event.payload.dialogId === dialogId &&
    event.payload.step === index

  const schedule = (duration: Duration.Input | undefined, index: number) =>
    duration === undefined
      ? Effect.succeed(undefined)
      : Effect.map(Clock.currentTimeMillis, (now) => {
        const key = timerKey(dialogId, index)
        host.setTimer(key, now + Duration.toMillis(Duration.fromInputUnsafe(duration)), {
          _tag: "DialogTimer",
          dialogId,
          step: index
        })
        return key
      })

  // The shared shape of `ask`, `choose` and `waitFor`: prompt once, then take answers until one decodes.
  const awaitAnswer = <A>(options: {
    readonly kind: string
    readonly key: string
    readonly prompt: Option.Option<Message.Message>
    readonly timeout: Duration.Input | undefined
    /** Reads an answer from an event: the value to record, or a rejection to answer with (or ignore). */
    readonly accept: (event: InboundEvent.MessageReceived) => Result.Result<unknown, Option.Option<string>>
    readonly decode: (recorded: unknown) => A
  }): Effect.Effect<A, Conversation.AskTimeout> =>
    Effect.gen(function*() {
      const { entry, index } = yield* at(options.kind, options.key)
      if (entry === undefined) {
        if (Option.isSome(options.prompt)) {
          yield* Effect.orDie(host.send(options.prompt.value, `${dialogId}:${index}`))
        }
        const timer = yield* schedule(options.timeout, index)
        record(index, {
          kind: options.kind,
          key: options.key,
          done: false,
          ...(timer === undefined ? {} : { timer })
        })
      } else if (entry.done) {
        const value = entry.value as { readonly timedOut?: boolean; readonly answer?: unknown }
        if (value.timedOut) return yield* new Conversation.AskTimeout({ prompt: options.key })
        return options.decode(value.answer)
      }
      const current = journal[index]!
      const taken = takeInput((event, inboxId) => {
        if (isTimerFor(event, index)) {
          return Option.some({ inboxId, result: Result.fail(Option.none<string>()), timedOut: true })
        }
        if (event._tag !== "MessageReceived") return Option.none()
        return Option.some({ inboxId, result: options.accept(event), timedOut: false })
      })
      if (Option.isNone(taken)) return yield* wait
      const { inboxId, result, timedOut } = taken.value
      if (timedOut) {
        record(index, { ...current, done: true, value: { timedOut: true }, by: inboxId })
        return yield* new Conversation.AskTimeout({ prompt: options.key })
      }
      if (Result.isFailure(result)) {
        if (Option.isSome(result.failure)) {
          yield* Effect.orDie(host.send(toMessage(result.failure.value), `${dialogId}:${index}:retry:${inboxId}`))
        }
        return yield* wait
      }
      if (current.timer !== undefined) host.cancelTimer(current.timer)
      record(index, { ...current, done: true, value: { answer: result.success }, by: inboxId })
      return options.decode(result.success)
    })

  const ask = <A = string>(
    prompt: string | Message.Message,
    options?: Conversation.AskOptions<A>
  ): Effect.Effect<A, Conversation.AskTimeout> => {
    const schema = options?.schema
    const decodeText = (text: string): Result.Result<A, string> =>
      schema === undefined
        ? Result.succeed(text as A)
        : Result.mapError(Schema.decodeResult(schema)(text), (error) => {
          const [issue] = formatIssue(error.issue).issues
          return issue?.message ?? "invalid answer"
        })
    const key = fingerprint(prompt)
    return awaitAnswer({
      kind: "ask",
      key,
      prompt: Option.some(toMessage(prompt)),
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
        Result.getOrElse(decodeText(String(recorded)), (reason) => {
          throw new Conversation.DialogChanged({
            step: cursor - 1,
            expected: "an answer the schema accepts",
            found: reason
          })
        })
    })
  }

  const choose = <const O extends string>(
    prompt: string,
    options: ReadonlyArray<O>,
    settings?: { readonly retryPrompt?: string | undefined; readonly timeout?: Duration.Input | undefined }
  ): Effect.Effect<O, Conversation.AskTimeout> => {
    // Keyed by the text it is in the journal (what a provider without buttons shows), sent as buttons:
    // interactive where the provider has them, that same numbered text elsewhere.
    const text = Message.choiceText(prompt, options)
    const distinct = new Set(options.map((option) => option.toLowerCase())).size === options.length
    const question = options.length > 0 && distinct
      ? Message.buttons(host.chat, { body: prompt, options: options as unknown as readonly [string, ...Array<string>] })
      : Message.text(host.chat, text)
    const pick = (answer: string): O | undefined => {
      const normalised = answer.trim().toLowerCase()
      const byNumber = /^\d+$/.test(normalised) ? options[Number(normalised) - 1] : undefined
      return byNumber ?? options.find((option) => option.toLowerCase() === normalised)
    }
    return awaitAnswer({
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
        if (choice === undefined) {
          throw new Conversation.DialogChanged({
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
    options?: { readonly timeout?: Duration.Input | undefined; readonly description?: string | undefined }
  ) =>
    awaitAnswer({
      kind: "wait",
      key: options?.description ?? "waitFor",
      prompt: Option.none(),
      timeout: options?.timeout,
      accept: (event) => predicate(event) ? Result.succeed(encodeEvent(event)) : Result.fail(Option.none()),
      decode: (recorded) => decodeEvent(recorded)
    })

  const reply = (message: string | Message.Message) =>
    Effect.gen(function*() {
      const { entry, index } = yield* at("reply", fingerprint(message))
      if (entry?.done) return decodeReceipt(entry.value)
      const receipt = yield* host.send(toMessage(message), `${dialogId}:${index}`)
      record(index, { kind: "reply", key: fingerprint(message), done: true, value: encodeReceipt(receipt) })
      return receipt
    })

  const step = <A, E, R>(name: string, effect: Effect.Effect<A, E, R>, schema?: Schema.Codec<A, any>) =>
    Effect.gen(function*() {
      const { entry, index } = yield* at("step", name)
      if (entry?.done) return schema ? Schema.decodeUnknownSync(schema)(entry.value) : entry.value as A
      const value = yield* effect
      record(index, { kind: "step", key: name, done: true, value: schema ? Schema.encodeSync(schema)(value) : value })
      return value
    })

  const sleep = (duration: Duration.Input) =>
    Effect.gen(function*() {
      const key = Duration.format(Duration.fromInputUnsafe(duration))
      const { entry, index } = yield* at("sleep", key)
      if (entry?.done) return
      if (entry === undefined) {
        const timer = yield* schedule(duration, index)
        record(index, { kind: "sleep", key, done: false, ...(timer === undefined ? {} : { timer }) })
      }
      const woke = takeInput((event, inboxId) => isTimerFor(event, index) ? Option.some(inboxId) : Option.none())
      if (Option.isNone(woke)) return yield* wait
      record(index, { ...journal[index]!, done: true, by: woke.value })
    })

  const remindAt = (when: Date, message: string | Message.Message) =>
    Effect.gen(function*() {
      const { entry, index } = yield* at("remind", fingerprint(message))
      if (entry?.done) return
      const key = timerKey(dialogId, index)
      host.setTimer(key, when.getTime(), { _tag: "Reminder", message: toMessage(message) })
      record(index, { kind: "remind", key: fingerprint(message), done: true, timer: key })
    })

  const getState = (key: string) =>
    Effect.gen(function*() {
      const { entry, index } = yield* at("get", key)
      if (entry?.done) return Option.fromNullishOr(entry.value)
      const value = host.data[key]
      record(index, { kind: "get", key, done: true, ...(value === undefined ? {} : { value }) })
      return Option.fromNullishOr(value)
    })

  const setState = (key: string, value: unknown) =>
    Effect.gen(function*() {
      const { entry, index } = yield* at("set", key)
      if (entry?.done) return
      host.data[key] = value
      host.dataChanged()
      record(index, { kind: "set", key, done: true })
    })

  const service: Conversation.Service = {
    chat: host.chat,
    trigger: dialog.event,
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
  return {
    service,
    waiting: () => waiting,
    dialog: (): rows.Dialog => ({ ...dialog, journal: [...journal] })
  }
}
