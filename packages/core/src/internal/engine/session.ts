/**
 * A chat's session: its row, read once when the chat's worker needs it and carried from event to
 * event, and what handling the current event changed (the chat's window and provider, its dialog and
 * state, the messages sent, timers set and cancelled, a delivery status), committed together.
 *
 * @internal
 */
import * as Option from "effect/Option"
import type * as Conversation from "../../Conversation.js"
import type { Receipt } from "../../Receipt.js"
import { encodeTimerPayload } from "./events.js"
import type * as rows from "./rows.js"
import type * as Store from "./store.js"

/** @internal */
export class Session {
  private row: Store.ChatRow
  private changed = false
  private sent: Array<Receipt> = []
  private timers: Array<{ readonly key: string; readonly fireAt: number; readonly payload: string }> = []
  private cancelled: Array<string | number> = []
  private status: Store.Changes["status"] = undefined

  /**
   * @param leaseUntil Until when this instance may act for the chat (PostgreSQL: its hold, renewed as it
   * goes); `Infinity` where the engine holds the whole database.
   * @param fenced Whether every commit writes the chat's row, even unchanged (PostgreSQL: the commit of a
   * held chat is fenced by its token).
   */
  constructor(
    readonly chat: string,
    row: Store.ChatRow,
    public leaseUntil: number,
    private readonly fenced: boolean
  ) {
    this.row = { ...row, data: { ...row.data } }
  }

  /** Whether this instance may still act for the chat at `now`. */
  heldAt(now: number): boolean {
    return now < this.leaseUntil
  }

  /** The number of the chat's last handled event (PostgreSQL). */
  get handledSeq(): number {
    return this.row.handledSeq
  }

  /** The fencing token of this instance's hold on the chat (PostgreSQL). */
  get token(): number {
    return this.row.token
  }

  get provider(): string | undefined {
    return this.row.provider
  }

  get lastInboundAt(): number | undefined {
    return this.row.lastInboundAt
  }

  get dialog(): Option.Option<rows.Dialog> {
    return this.row.dialog
  }

  /** The chat's typed state, changed in place by dialogs (then `dataChanged`). */
  get data(): Record<string, unknown> {
    return this.row.data
  }

  /** The user wrote through `provider` at `at`: the 24 h window and the reply route move on. */
  touchInbound(provider: string, at: number): void {
    if (this.row.lastInboundAt !== undefined && this.row.lastInboundAt > at) return
    this.row = { ...this.row, provider, lastInboundAt: at }
    this.changed = true
  }

  setDialog(dialog: Option.Option<rows.Dialog>): void {
    this.row = { ...this.row, dialog }
    this.changed = true
  }

  dataChanged(): void {
    this.changed = true
  }

  recordSent(receipt: Receipt): void {
    this.sent.push(receipt)
  }

  setTimer(key: string, fireAt: number, payload: Conversation.TimerPayload): void {
    this.timers.push({ key, fireAt, payload: encodeTimerPayload(payload) })
  }

  cancelTimer(timer: string | number): void {
    this.cancelled.push(timer)
  }

  setStatus(status: NonNullable<Store.Changes["status"]>): void {
    this.status = status
  }

  /** What the current event changed, to commit with it. */
  changes(entry: Store.Entry): Store.Changes {
    return {
      entry,
      chat: this.changed || this.fenced ? this.row : undefined,
      sent: this.sent,
      timers: this.timers,
      cancelled: this.cancelled,
      status: this.status
    }
  }

  /** The event's changes are on disk: the session starts the next event from here. */
  committed(entry: Store.Entry): void {
    if (entry.order > this.row.handledSeq) this.row = { ...this.row, handledSeq: entry.order }
    this.changed = false
    this.sent = []
    this.timers = []
    this.cancelled = []
    this.status = undefined
  }
}

/** A session for events that belong to no chat's row (delivery statuses). @internal */
export const detached = (chat: string): Session =>
  new Session(
    chat,
    {
      provider: undefined,
      lastInboundAt: undefined,
      dialog: Option.none(),
      data: {},
      token: 0,
      handledSeq: 0
    },
    Infinity,
    false
  )

/**
 * Sessions kept between a chat's events, for the worker that takes the chat next (`coordination.ts` says
 * which). On SQLite, where this engine is the only writer of its chats (under the engine's hold), those of
 * recently active chats: the next event of a chat then needs no read at all; least recently used dropped
 * first, and those of chats retention deleted dropped at once. On PostgreSQL, only those of chats handed
 * back to the queue while this instance holds them (the fairness requeue in `worker.ts`), with no limit:
 * each is taken again with its chat (or, when the engine stops first, its chat stays held until the hold
 * lapses or this instance starts again, as the chat a worker was serving does). A worker takes a chat's
 * session out while it handles the chat.
 *
 * @internal
 */
export class SessionCache {
  private readonly sessions = new Map<string, Session>()

  constructor(private readonly capacity: number) {}

  take(chat: string): Session | undefined {
    const session = this.sessions.get(chat)
    if (session !== undefined) this.sessions.delete(chat)
    return session
  }

  /** Drops the sessions of chats whose rows retention deleted. */
  forget(chats: ReadonlyArray<string>): void {
    for (const chat of chats) this.sessions.delete(chat)
  }

  keep(session: Session): void {
    this.sessions.set(session.chat, session)
    if (this.sessions.size > this.capacity) this.sessions.delete(this.sessions.keys().next().value!)
  }
}
