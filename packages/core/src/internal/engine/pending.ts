/**
 * The engine's view of the inbox's pending events, per chat, in the chat's order (the order they were
 * accepted: by inbox id on SQLite, by the chat's event number on PostgreSQL).
 * Events are handed over as soon as their enqueue commits (no read back), and found by the poll when
 * another process wrote them. A chat is offered to the workers when it gets its first event, and is
 * let go when its worker finds its queue empty, so each chat has at most one worker.
 *
 * @internal
 */
import * as Queue from "effect/Queue"
import type * as Store from "./store.js"

/** @internal */
export class Pending {
  private readonly chats = new Map<string, Array<Store.Entry>>()
  private readonly known = new Set<number>()

  constructor(private readonly ready: Queue.Queue<string>) {}

  /** Adds events not seen before, each after its chat's earlier ones. */
  add(entries: ReadonlyArray<Store.Entry>): void {
    for (const entry of entries) {
      if (this.known.has(entry.id)) continue
      this.known.add(entry.id)
      const queue = this.chats.get(entry.chat)
      if (queue === undefined) {
        this.chats.set(entry.chat, [entry])
        Queue.offerUnsafe(this.ready, entry.chat)
        continue
      }
      let at = queue.length
      while (at > 0 && queue[at - 1]!.order > entry.order) at--
      queue.splice(at, 0, entry)
    }
  }

  /** Whether the event is already queued or being handled here. */
  has(id: number): boolean {
    return this.known.has(id)
  }

  /**
   * The chat's next event; when there is none the chat is let go (checked and released in one step,
   * so an event added after is offered again).
   */
  next(chat: string): Store.Entry | undefined {
    const queue = this.chats.get(chat)
    const entry = queue?.[0]
    if (entry === undefined) this.chats.delete(chat)
    return entry
  }

  /** The chat's next event is handled (committed or dead-lettered). */
  done(chat: string): void {
    const entry = this.chats.get(chat)?.shift()
    if (entry !== undefined) this.known.delete(entry.id)
  }

  /** Whether the chat has an event here that is not being handled. */
  queued(chat: string): boolean {
    return (this.chats.get(chat)?.length ?? 0) > 0
  }

  /** Whether the chat has events here (queued, or being handled). */
  active(chat: string): boolean {
    return this.chats.has(chat)
  }

  /** Drops the chat's events (another instance holds it); a later poll finds them again if still pending. */
  forget(chat: string): void {
    for (const entry of this.chats.get(chat) ?? []) this.known.delete(entry.id)
    this.chats.delete(chat)
  }
}
