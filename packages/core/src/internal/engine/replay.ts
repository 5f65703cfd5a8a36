/**
 * The replay runtime: runs a program over its journal, the list of the steps it took in earlier runs.
 *
 * A program (a dialog) runs from the top on every event of its chat. Each step it takes is matched, by
 * position, against the journal: a step already there and done returns its recorded result and does
 * nothing (a prompt is not sent again, an effect is not run again); a step not there yet runs and is
 * appended; the first step still waiting takes the run's input (the event being handled) if it is its
 * answer. A run ends with a {@link ReplayResult}:
 *
 * - `Returned`: the program finished;
 * - `Suspended`: it waits for an input it has not had (an answer, a timer): the journal is then the whole
 *   of its state, and its fiber has ended;
 * - `Ended`: it was ended quietly, for a `reason` (an `AskTimeout` it did not catch, or code that no
 *   longer matches its journal);
 * - `Failed`: it failed, with the journal as far as it got (its sends are not to be repeated);
 * - `LeaseLost`: it was stopped because this instance no longer holds the chat (another handles it).
 *
 * Suspending, ending and losing the lease stop the program by interruption, which its `Effect.catch`
 * does not catch: none of them reaches dialog code as an error or a defect. The runtime records why it
 * stopped the program before it interrupts it, and a stopped run takes no further step, so even code that
 * catches the interruption (`Effect.catchCause`) ends where it was stopped.
 *
 * Nothing here writes to the database or sends: the steps are given what to do (see `dialog.ts` for the
 * `Conversation` service's steps), and the engine commits the journal with the event.
 *
 * Two kinds of step cover every operation: {@link Replay.once}, an action whose result is recorded and
 * replayed (a reply, a `step`, a state read; a model response or a tool call fits the same way: its own
 * `kind`, a key, an effect and a codec), and a waiting step built from {@link Replay.next},
 * {@link Replay.take} and {@link Replay.suspend} (an `ask`, a `sleep`).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Conversation from "../../Conversation.js"
import type * as Inbox from "../../Inbox.js"
import type * as rows from "./rows.js"

/** What a program did in its earlier runs, step by step. @internal */
export type Journal = ReadonlyArray<rows.JournalEntry>

/** The input a run may take as a waiting step's answer: the event being handled, with its inbox id. @internal */
export interface Input {
  readonly inboxId: number
  readonly event: Inbox.Event
}

/** How a run ended. @internal */
export type ReplayResult =
  | { readonly _tag: "Returned" }
  | { readonly _tag: "Suspended"; readonly journal: Journal }
  | { readonly _tag: "Ended"; readonly reason: string }
  | { readonly _tag: "Failed"; readonly cause: Cause.Cause<unknown>; readonly journal: Journal }
  | { readonly _tag: "LeaseLost" }

/** Why the runtime stopped a program. */
type Stop =
  | { readonly _tag: "Suspended" }
  | { readonly _tag: "Ended"; readonly reason: string }
  | { readonly _tag: "LeaseLost" }

/** A step of the program at its position in the journal: what the journal has there, if anything. @internal */
export interface Step {
  readonly index: number
  readonly entry: rows.JournalEntry | undefined
}

/** How a step's result is kept in the journal (JSON). @internal */
export interface Codec<A> {
  readonly encode: (value: A) => unknown
  readonly decode: (recorded: unknown) => A
}

/** The journal of one run of a program, and the run's input. @internal */
export class Replay {
  private readonly entries: Array<rows.JournalEntry>
  private cursor = 0
  private inputTaken: boolean
  private stopped: Stop | undefined = undefined

  constructor(journal: Journal, private readonly input: Input | undefined) {
    this.entries = [...journal]
    // An input a step already took (the event handled again, after a crash before its commit) is not
    // offered again.
    this.inputTaken = input === undefined || journal.some((entry) => entry.by === input.inboxId)
  }

  /** The journal as it stands. */
  journal(): Journal {
    return [...this.entries]
  }

  /**
   * The program's next step, of `kind` with `key`: what the journal has at its position. A journal with
   * another step there (the code changed) ends the run.
   */
  next(kind: string, key: string): Effect.Effect<Step> {
    if (this.stopped !== undefined) return Effect.interrupt
    const index = this.cursor++
    const entry = this.entries[index]
    if (entry !== undefined && (entry.kind !== kind || entry.key !== key)) {
      return this.end(
        new Conversation.DialogChanged({
          step: index,
          expected: `${kind} ${JSON.stringify(key)}`,
          found: `${entry.kind} ${JSON.stringify(entry.key)}`
        }).message
      )
    }
    return Effect.succeed({ index, entry })
  }

  /** Records the step at `index`. */
  record(index: number, entry: rows.JournalEntry): void {
    this.entries[index] = entry
  }

  /** The journal's entry at `index`. */
  entry(index: number): rows.JournalEntry | undefined {
    return this.entries[index]
  }

  /**
   * An action: `effect` runs the first time the step is reached and its result is recorded (done); a
   * replay returns the recorded result without running it. `effect` is given the step's position, which
   * with the dialog's id makes a key that stays the same however often the event is handled again (a
   * reply's send passes it to providers that take idempotency keys; a tool call can do the same).
   *
   * The result is on disk once the event's commit is: a crash before it runs the action again when the
   * event is handled again (at least once, and exactly once where its effect honours the key).
   */
  once<A, E, R>(
    kind: string,
    key: string,
    effect: (index: number) => Effect.Effect<A, E, R>,
    codec: Codec<A>
  ): Effect.Effect<A, E, R> {
    return Effect.flatMap(this.next(kind, key), ({ entry, index }) => {
      if (entry?.done) return Effect.succeed(codec.decode(entry.value))
      return Effect.map(effect(index), (result) => {
        const value = codec.encode(result)
        this.record(index, value === undefined ? { kind, key, done: true } : { kind, key, done: true, value })
        return result
      })
    })
  }

  /** The run's input, for a waiting step: `f` says what it is to the step, if anything; once taken, it is gone. */
  take<A>(f: (input: Input) => Option.Option<A>): Option.Option<A> {
    if (this.inputTaken || this.input === undefined) return Option.none()
    const taken = f(this.input)
    if (Option.isSome(taken)) this.inputTaken = true
    return taken
  }

  /** Stops the run: the program waits for its next input. */
  get suspend(): Effect.Effect<never> {
    return this.stop({ _tag: "Suspended" })
  }

  /** Stops the run and ends the program quietly, for `reason`. */
  end(reason: string): Effect.Effect<never> {
    return this.stop({ _tag: "Ended", reason })
  }

  /** Stops the run: this instance no longer holds the chat. */
  get leaseLost(): Effect.Effect<never> {
    return this.stop({ _tag: "LeaseLost" })
  }

  private stop(stop: Stop): Effect.Effect<never> {
    this.stopped ??= stop
    return Effect.interrupt
  }

  /** How the run ended, from the program's exit. */
  result(exit: Exit.Exit<unknown, unknown>): ReplayResult {
    const stopped = this.stopped
    if (stopped !== undefined) {
      return stopped._tag === "Suspended" ? { _tag: "Suspended", journal: this.journal() } : stopped
    }
    if (Exit.isSuccess(exit)) return { _tag: "Returned" }
    const failure = Cause.findErrorOption(exit.cause)
    if (Option.isSome(failure) && failure.value instanceof Conversation.AskTimeout) {
      return { _tag: "Ended", reason: failure.value.message }
    }
    return { _tag: "Failed", cause: exit.cause, journal: this.journal() }
  }
}

/** Runs `program` over `replay`'s journal. @internal */
export const run = <R>(
  program: Effect.Effect<unknown, unknown, R>,
  replay: Replay
): Effect.Effect<ReplayResult, never, R> => Effect.map(Effect.exit(program), (exit) => replay.result(exit))
