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
 * Errors: `ask` and `choose` fail with `AskTimeout` when their `timeout` passes, and with the
 * `MessagingError` of a prompt that could not be sent (e.g. `WindowClosed` outside the 24 h window with no
 * template fallback), as `reply` does; uncaught, a `MessagingError` fails the handler (retried, then
 * dead-lettered) and an `AskTimeout` ends the dialog quietly. (`ask` and `choose` used to turn a failed send
 * into a defect.) Nothing else the engine does reaches dialog code: a dialog whose code no longer
 * matches its journal, or whose chat another instance has taken over (PostgreSQL), is stopped where it is,
 * by interruption, not by an error or a defect.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as ChatId from "./ChatId.js"
import type * as InboundEvent from "./InboundEvent.js"
import * as Message from "./Message.js"
import type * as MessagingError from "./MessagingError.js"
import type { Receipt } from "./Receipt.js"

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
 * dialog with a warning naming it (the dialog is stopped, not failed with it).
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
 * What a durable timer does when it fires: wake a dialog at a step (a `sleep`, or an `ask`'s
 * timeout), or send a reminder (`remindAt`).
 *
 * @since 0.1.0
 * @category models
 */
export const TimerPayload = Schema.Union([
  Schema.TaggedStruct("DialogTimer", { dialogId: Schema.String, step: Schema.Number }),
  Schema.TaggedStruct("Reminder", { message: Message.Message })
])

/**
 * @since 0.1.0
 * @category models
 */
export type TimerPayload = typeof TimerPayload.Type

/**
 * @since 0.1.0
 * @category models
 */
export interface AskOptions<A> {
  /**
   * Decodes the answer's text; a failure re-prompts. (For a number, `Schema.FiniteFromString`:
   * `Schema.NumberFromString` reads any text, `"abc"` as `NaN`.)
   */
  readonly schema?: Schema.Codec<A, string> | undefined
  /** Sent when the answer does not decode (default: the reason and the prompt again). */
  readonly retryPrompt?: string | undefined
  /** Fails the ask with `AskTimeout` when no answer comes in time (durable: survives restarts). */
  readonly timeout?: Duration.Input | undefined
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
  readonly ask: <A = string>(
    prompt: string | Message.Message,
    options?: AskOptions<A>
  ) => Effect.Effect<A, AskTimeout | MessagingError.MessagingError>
  readonly choose: <const O extends string>(
    prompt: string,
    options: ReadonlyArray<O>,
    settings?: { readonly retryPrompt?: string | undefined; readonly timeout?: Duration.Input | undefined }
  ) => Effect.Effect<O, AskTimeout | MessagingError.MessagingError>
  readonly reply: (message: string | Message.Message) => Effect.Effect<Receipt, MessagingError.MessagingError>
  readonly step: <A, E, R>(
    name: string,
    effect: Effect.Effect<A, E, R>,
    schema?: Schema.Codec<A, any>
  ) => Effect.Effect<A, E, R>
  readonly waitFor: (
    predicate: (event: InboundEvent.MessageReceived) => boolean,
    options?: { readonly timeout?: Duration.Input | undefined; readonly description?: string | undefined }
  ) => Effect.Effect<InboundEvent.MessageReceived, AskTimeout>
  readonly sleep: (duration: Duration.Input) => Effect.Effect<void>
  readonly remindAt: (at: Date, message: string | Message.Message) => Effect.Effect<void>
  readonly getState: (key: string) => Effect.Effect<Option.Option<unknown>>
  readonly setState: (key: string, value: unknown) => Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Conversation extends Context.Service<Conversation, Service>()("@parley/core/Conversation") {}

/**
 * Sends `prompt` and waits for the answer's text, decoded by `schema` when given (a bad answer gets
 * `retryPrompt` and is asked again). Fails with `AskTimeout` when `timeout` passes with no answer, and with
 * the `MessagingError` of a prompt (or retry prompt) that could not be sent.
 *
 * @since 0.1.0
 * @category dialogs
 */
export const ask = <A = string>(
  prompt: string | Message.Message,
  options?: AskOptions<A>
): Effect.Effect<A, AskTimeout | MessagingError.MessagingError, Conversation> =>
  Conversation.use((c) => c.ask(prompt, options))

/**
 * Sends a numbered list and waits for one of `options`, by number or by text. Fails as `ask` does.
 *
 * @since 0.1.0
 * @category dialogs
 */
export const choose = <const O extends string>(
  prompt: string,
  options: ReadonlyArray<O>,
  settings?: { readonly retryPrompt?: string | undefined; readonly timeout?: Duration.Input | undefined }
): Effect.Effect<O, AskTimeout | MessagingError.MessagingError, Conversation> =>
  Conversation.use((c) => c.choose(prompt, options, settings))

/**
 * Sends a message to the chat (text, or any `Message`), once.
 *
 * @since 0.1.0
 * @category dialogs
 */
export const reply = (
  message: string | Message.Message
): Effect.Effect<Receipt, MessagingError.MessagingError, Conversation> => Conversation.use((c) => c.reply(message))

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
  schema?: Schema.Codec<A, any>
): Effect.Effect<A, E, R | Conversation> => Conversation.use((c) => c.step(name, effect, schema))

/**
 * Waits for the next message that satisfies `predicate`.
 *
 * @since 0.1.0
 * @category dialogs
 */
export const waitFor = (
  predicate: (event: InboundEvent.MessageReceived) => boolean,
  options?: { readonly timeout?: Duration.Input | undefined; readonly description?: string | undefined }
): Effect.Effect<InboundEvent.MessageReceived, AskTimeout, Conversation> =>
  Conversation.use((c) => c.waitFor(predicate, options))

/**
 * Pauses the dialog durably: it holds no fiber meanwhile and resumes after a restart.
 *
 * @since 0.1.0
 * @category dialogs
 */
export const sleep = (duration: Duration.Input): Effect.Effect<void, never, Conversation> =>
  Conversation.use((c) => c.sleep(duration))

/**
 * Sends `message` to the chat at `at` (durably), whatever the dialog does meanwhile. Outside the
 * 24 h window it becomes the bot's template fallback, if one is set.
 *
 * @since 0.1.0
 * @category dialogs
 */
export const remindAt = (at: Date, message: string | Message.Message): Effect.Effect<void, never, Conversation> =>
  Conversation.use((c) => c.remindAt(at, message))

/**
 * The chat this dialog runs in.
 *
 * @since 0.1.0
 * @category accessors
 */
export const chat: Effect.Effect<ChatId.ChatId, never, Conversation> = Conversation.useSync((c) => c.chat)

/**
 * The message that started the dialog.
 *
 * @since 0.1.0
 * @category accessors
 */
export const trigger: Effect.Effect<InboundEvent.MessageReceived, never, Conversation> = Conversation.useSync(
  (c) => c.trigger
)

/**
 * Typed per-chat state that outlives dialogs: `const Prefs = Conversation.State("prefs", schema, initial)`,
 * then `yield* Prefs.get`, `yield* Prefs.set(value)`, `yield* Prefs.update(f)`.
 *
 * @since 0.1.0
 * @category state
 */
export const State = <A, I>(key: string, schema: Schema.Codec<A, I>, initial: A) => {
  const decode = Schema.decodeUnknownEffect(schema)
  const encode = Schema.encodeEffect(schema)
  const get: Effect.Effect<A, never, Conversation> = Conversation.use((c) =>
    Effect.flatMap(
      c.getState(key),
      Option.match({ onNone: () => Effect.succeed(initial), onSome: (u) => Effect.orDie(decode(u)) })
    )
  )
  const set = (value: A): Effect.Effect<void, never, Conversation> =>
    Conversation.use((c) => Effect.flatMap(Effect.orDie(encode(value)), (encoded) => c.setState(key, encoded)))
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
