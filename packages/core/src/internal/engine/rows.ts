/**
 * What the engine stores and how it reads it back: dialogs and their journals (JSON in the chat's
 * row), sent messages, and inbox events.
 *
 * @internal
 */
import * as Schema from "effect/Schema"
import * as InboundEvent from "../../InboundEvent.js"

/** @internal */
export const JournalEntry = Schema.Struct({
  kind: Schema.String,
  key: Schema.String,
  done: Schema.Boolean,
  value: Schema.optional(Schema.Unknown),
  by: Schema.optional(Schema.Number),
  /** The timer the step set: its key (or, in journals written before keys, its row id). */
  timer: Schema.optional(Schema.Union([Schema.String, Schema.Number]))
})

/** @internal */
export type JournalEntry = typeof JournalEntry.Type

/** @internal */
export const Dialog = Schema.Struct({
  id: Schema.String,
  route: Schema.String,
  trigger: Schema.Number,
  event: InboundEvent.MessageReceived,
  journal: Schema.Array(JournalEntry),
  startedAt: Schema.Number
})

/** @internal */
export type Dialog = typeof Dialog.Type

/** @internal */
export const decodeDialog = Schema.decodeUnknownSync(Schema.fromJsonString(Dialog))

/** @internal */
export const encodeDialog = Schema.encodeSync(Schema.fromJsonString(Dialog))

/** @internal */
export interface SentMessage {
  readonly messageId: string
  readonly chat: string
  readonly provider: string
  readonly status: string
  readonly error: string | undefined
}

const MessageRow = Schema.Struct({
  message_id: Schema.String,
  chat: Schema.String,
  provider: Schema.String,
  status: Schema.String,
  error: Schema.NullOr(Schema.String)
})
const decodeMessageRow = Schema.decodeUnknownSync(MessageRow)

/** @internal */
export const toSentMessage = (row: unknown): SentMessage => {
  const decoded = decodeMessageRow(row)
  return {
    messageId: decoded.message_id,
    chat: decoded.chat,
    provider: decoded.provider,
    status: decoded.status,
    error: decoded.error ?? undefined
  }
}

/** SQLite gives numbers; PostgreSQL gives BIGINTs as `bigint`s (`@effect/sql-pg` 4), or as strings. @internal */
export const int = (value: unknown): number => typeof value === "number" ? value : Number(value)

/** @internal */
export const optionalInt = (value: unknown): number | undefined =>
  value === null || value === undefined ? undefined : int(value)
