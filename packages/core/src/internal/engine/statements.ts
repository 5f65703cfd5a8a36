/**
 * The engine's SQL, written once with `?` placeholders and rendered for each database (PostgreSQL
 * numbers them `$1`, `$2`, …; `coordination.ts` picks the set for the database in use). Tables are
 * created by `Migrations`.
 *
 * @internal
 */

/** @internal */
export type Dialect = "sqlite" | "pg"

const numbered = (text: string) => {
  let n = 0
  return text.replace(/\?/g, () => `$${++n}`)
}

const texts = {
  enqueue: `INSERT INTO parley_inbox (chat, event, received_at, dedupe_key, trace) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
  enqueueTimer: `INSERT INTO parley_inbox (chat, event, received_at) VALUES (?, ?, ?) RETURNING id`,
  claimTimer: `UPDATE parley_timers SET state = 'fired' WHERE id = ? AND state = 'pending' RETURNING id`,
  pending: `SELECT id, chat FROM parley_inbox WHERE state = 'pending' ORDER BY id`,
  pendingEvent: `SELECT event, attempts, trace, seq FROM parley_inbox WHERE id = ? AND state = 'pending'`,
  chatPending: `SELECT id, event, attempts, trace, seq FROM parley_inbox WHERE chat = ? AND state = 'pending'
    ORDER BY seq, id`,
  // PostgreSQL: the chat's next event number, taken under its row's lock (held to the commit), so
  // numbers follow commit order; and a wake-up for the instance that holds the chat.
  nextSeq: `INSERT INTO parley_conversations (chat, data, updated_at, inbox_seq) VALUES (?, '{}', ?, 1)
    ON CONFLICT (chat) DO UPDATE SET inbox_seq = parley_conversations.inbox_seq + 1 RETURNING inbox_seq`,
  setSeq: `UPDATE parley_inbox SET seq = ? WHERE id = ?`,
  notify: `SELECT pg_notify('parley_inbox', ?)`,
  // PostgreSQL: a transaction's advisory locks on its chats (keys from lockKeys, in that order; the
  // class 1885434476, "parl", keeps them apart from an application's own advisory locks).
  lockChats: `SELECT pg_advisory_xact_lock(1885434476, k) FROM unnest(string_to_array(?, ',')::int4[]) AS k`,
  done: `UPDATE parley_inbox SET state = 'done', event = '' WHERE id = ?`,
  attempt: `UPDATE parley_inbox SET attempts = attempts + 1 WHERE id = ?`,
  deadLetter: `INSERT INTO parley_dead_letters (inbox_id, chat, event, error, attempts, failed_at)
    SELECT id, chat, event, ?, attempts, ? FROM parley_inbox WHERE id = ?`,
  dead: `UPDATE parley_inbox SET state = 'dead', event = '' WHERE id = ?`,
  // A parked event back into the inbox, as a new pending event (with no dedupe key: a provider's redelivery
  // is still dropped by the original's mark), and its dead letter removed.
  deadLetterChat: `SELECT chat FROM parley_dead_letters WHERE id = ?`,
  replayDeadLetter: `INSERT INTO parley_inbox (chat, event, received_at)
    SELECT chat, event, ? FROM parley_dead_letters WHERE id = ? RETURNING id, chat, event`,
  dropDeadLetter: `DELETE FROM parley_dead_letters WHERE id = ? RETURNING id`,
  loadChat: `SELECT provider, last_inbound_at, dialog, data, lease_token FROM parley_conversations WHERE chat = ?`,
  // Takes the chat for this instance (or renews its own hold) and reads it, in one statement; returns
  // nothing while another live instance holds it. Each taking bumps the fencing token.
  acquireChat: `INSERT INTO parley_conversations (chat, data, updated_at, lease_owner, lease_until, lease_token)
    VALUES (?, '{}', ?, ?, ?, 1)
    ON CONFLICT (chat) DO UPDATE SET lease_owner = excluded.lease_owner, lease_until = excluded.lease_until,
      lease_token = parley_conversations.lease_token + 1
    WHERE parley_conversations.lease_owner IS NULL OR parley_conversations.lease_owner = excluded.lease_owner
      OR parley_conversations.lease_until < ?
    RETURNING provider, last_inbound_at, dialog, data, lease_token, handled_seq`,
  saveChat: `INSERT INTO parley_conversations (chat, provider, last_inbound_at, dialog, data, updated_at)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (chat) DO UPDATE SET provider = excluded.provider, last_inbound_at = excluded.last_inbound_at,
      dialog = excluded.dialog, data = excluded.data, updated_at = excluded.updated_at
    RETURNING chat`,
  // The commit of an instance that holds the chat: only while its token is still the chat's (fencing),
  // renewing the hold as it goes.
  saveLeasedChat: `UPDATE parley_conversations SET provider = ?, last_inbound_at = ?, dialog = ?, data = ?,
      updated_at = ?, lease_until = ?, handled_seq = ?
    WHERE chat = ? AND lease_owner = ? AND lease_token = ? RETURNING chat`,
  // Lets the chat go, unless an event came for it meanwhile (then the holder goes on with it).
  releaseChat: `UPDATE parley_conversations SET lease_owner = NULL, lease_until = NULL
    WHERE chat = ? AND lease_owner = ? AND lease_token = ?
      AND NOT EXISTS (SELECT 1 FROM parley_inbox WHERE chat = ? AND state = 'pending')
    RETURNING chat`,
  // Renews every hold of this instance that has not lapsed (PostgreSQL only). Rows a commit of this
  // instance is writing right now are skipped, not waited for: that commit renews them, and waiting
  // could deadlock with it.
  renewChats: `UPDATE parley_conversations SET lease_until = ? WHERE chat IN (
      SELECT chat FROM parley_conversations WHERE lease_owner = ? AND lease_until >= ? FOR UPDATE SKIP LOCKED)
    RETURNING chat`,
  recordSent: `INSERT INTO parley_messages (message_id, chat, provider, status, sent_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING`,
  sentMessage: `SELECT message_id, chat, provider, status, error FROM parley_messages WHERE message_id = ?`,
  updateStatus: `UPDATE parley_messages SET status = ?, error = ?, updated_at = ? WHERE message_id = ?`,
  addTimer: `INSERT INTO parley_timers (chat, fire_at, payload, timer_key) VALUES (?, ?, ?, ?)
    ON CONFLICT (timer_key) DO NOTHING`,
  cancelTimer: `UPDATE parley_timers SET state = 'cancelled' WHERE timer_key = ? AND state = 'pending'`,
  cancelLegacyTimer: `UPDATE parley_timers SET state = 'cancelled' WHERE id = ? AND state = 'pending'`,
  dueTimers: `SELECT id, chat, fire_at, payload FROM parley_timers WHERE state = 'pending' AND fire_at <= ?
    ORDER BY fire_at, id LIMIT ?`,
  nextTimer: `SELECT MIN(fire_at) AS at FROM parley_timers WHERE state = 'pending'`,
  // The engine's hold on a whole database (SQLite serves one engine): taken at start, renewed, checked
  // in each batch that commits handled events.
  takeEngine: `INSERT INTO parley_instances (name, owner, token, lease_until) VALUES ('engine', ?, 1, ?)
    ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, token = parley_instances.token + 1,
      lease_until = excluded.lease_until
    WHERE parley_instances.owner = excluded.owner OR parley_instances.lease_until < ?
    RETURNING token`,
  engineHolder: `SELECT owner, lease_until FROM parley_instances WHERE name = 'engine'`,
  holdEngine: `UPDATE parley_instances SET lease_until = ? WHERE name = 'engine' AND owner = ? AND token = ?
    RETURNING token`,
  // Retention: each deletes a batch of rows that serve no purpose any more.
  pruneInbox: `DELETE FROM parley_inbox WHERE id IN (SELECT id FROM parley_inbox
    WHERE state IN ('done', 'dead') AND received_at < ? LIMIT ?) RETURNING id`,
  pruneTimers: `DELETE FROM parley_timers WHERE id IN (SELECT id FROM parley_timers
    WHERE state <> 'pending' LIMIT ?) RETURNING id`,
  pruneMessages: `DELETE FROM parley_messages WHERE message_id IN (SELECT message_id FROM parley_messages
    WHERE sent_at < ? LIMIT ?) RETURNING message_id`,
  pruneIdempotency: `DELETE FROM parley_idempotency WHERE key IN (SELECT key FROM parley_idempotency
    WHERE expires_at < ? LIMIT ?) RETURNING key`,
  // Chats are swept in key order, a range at a time (no index on when a chat was last active: each commit
  // would have to update it). The range after a chat, each row with whether it alone lets the chat go: its
  // dialog finished, nothing written to it and no message from its user since the cutoff, held by no live
  // instance, every accepted event handled (PostgreSQL's event numbers; both 0 on SQLite).
  chatRange: `SELECT chat, CASE WHEN dialog IS NULL AND updated_at < ?
      AND (last_inbound_at IS NULL OR last_inbound_at < ?) AND (lease_owner IS NULL OR lease_until < ?)
      AND inbox_seq = handled_seq THEN 1 ELSE 0 END AS idle
    FROM parley_conversations WHERE chat > ? ORDER BY chat LIMIT ?`,
  // Deletes those of the chats (a JSON array) that are still idle and have no pending event or timer (a
  // reminder): checked again in the transaction that deletes them, which holds their locks (PostgreSQL).
  pruneChats: `DELETE FROM parley_conversations WHERE chat IN (SELECT value FROM json_each(?))
    AND dialog IS NULL AND updated_at < ? AND (last_inbound_at IS NULL OR last_inbound_at < ?)
    AND (lease_owner IS NULL OR lease_until < ?) AND inbox_seq = handled_seq
    AND chat NOT IN (SELECT chat FROM parley_inbox WHERE state = 'pending')
    AND chat NOT IN (SELECT chat FROM parley_timers WHERE state = 'pending')
    RETURNING chat`,
  // Rows per table, and the database's bytes on disk, in one statement.
  size: `SELECT (SELECT COUNT(*) FROM parley_inbox) AS inbox,
    (SELECT COUNT(*) FROM parley_dead_letters) AS dead_letters,
    (SELECT COUNT(*) FROM parley_conversations) AS conversations,
    (SELECT COUNT(*) FROM parley_timers) AS timers,
    (SELECT COUNT(*) FROM parley_messages) AS messages,
    (SELECT COUNT(*) FROM parley_idempotency) AS idempotency,
    (SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()) AS bytes`
} as const

/** @internal */
export type Statements = { readonly [K in keyof typeof texts]: string }

/** The statements for SQLite. @internal */
export const sqlite: Statements = texts

/** The statements for PostgreSQL: placeholders numbered, and its own JSON arrays and database size. @internal */
export const postgres: Statements = {
  ...Object.fromEntries(Object.entries(texts).map(([name, text]) => [name, numbered(text)])) as Statements,
  pruneChats: numbered(
    texts.pruneChats.replace("SELECT value FROM json_each(?)", "SELECT jsonb_array_elements_text(?::jsonb)")
  ),
  size: texts.size.replace(
    "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
    "SELECT pg_database_size(current_database())"
  )
}

/**
 * The advisory-lock keys of chats for `lockChats`: a 32-bit hash of each (FNV-1a; two chats that share a
 * key only wait for each other), distinct, in ascending order, comma-separated. Every transaction that
 * takes its locks in this one order can wait for another, never in a cycle.
 *
 * @internal
 */
export const lockKeys = (chats: ReadonlyArray<string>): string => {
  const keys = new Set<number>()
  for (const chat of chats) {
    let hash = 0x811c9dc5
    for (let i = 0; i < chat.length; i++) hash = Math.imul(hash ^ chat.charCodeAt(i), 0x01000193)
    keys.add(hash | 0)
  }
  return [...keys].sort((a, b) => a - b).join(",")
}
