import { COMMANDS_SCHEMA } from "./commands";
import { METRIC_HOURS_SCHEMA } from "./metrics";

// SQLite schema of a DeviceHub. Each entry is one migration step (see sql-migrations.ts).
// The log tables (logs, batches, log_hours, archive_chunks, chunks) are no longer written: a
// device's lines live in its log shard now, and what is left here is handed over (hand-over.ts).

/** The chunked hot store, as the cost work made it (frozen: a landed step never changes). */
const CHUNKS_SCHEMA = `CREATE TABLE chunks (
     id INTEGER PRIMARY KEY,       -- in order of arrival
     first_id INTEGER NOT NULL,    -- the id of its first line (each line keeps its own)
     end_id INTEGER NOT NULL,      -- one past the last line id given here
     lines INTEGER NOT NULL,       -- lines held now (the archive takes some out)
     min_ts INTEGER,               -- µs, null while it holds no line
     max_ts INTEGER,
     levels INTEGER NOT NULL,      -- bit n: a line at level n
     modules TEXT,                 -- JSON array of the modules present; null: too many to list
     sessions TEXT,                -- the same for session ids
     received_at INTEGER NOT NULL, -- ms, when its last batch arrived
     batches INTEGER NOT NULL,     -- batches appended
     bytes INTEGER NOT NULL,       -- length of data
     batch_ids TEXT NOT NULL,      -- one JSON line per batch that had an id: [batch_id, received_at, answer]
     keys TEXT NOT NULL,           -- "id,ts,level," per line, in the order of data: what most filters need, read without the lines
     data TEXT NOT NULL            -- one JSON line per log line: [id, ts, level, module, logger, message, thread_id, process_id, session_id, context]
   );
   CREATE VIRTUAL TABLE chunks_fts USING fts5 (text, content = '', contentless_delete = 1);`;

/** The archive's manifest, as the archive work made it (frozen). */
const ARCHIVE_SCHEMA = `CREATE TABLE archive_chunks (
     key TEXT PRIMARY KEY,
     hour INTEGER NOT NULL,
     seq INTEGER NOT NULL,
     min_ts INTEGER NOT NULL,
     min_id INTEGER NOT NULL,
     max_ts INTEGER NOT NULL,
     max_id INTEGER NOT NULL,
     lines INTEGER NOT NULL,
     levels INTEGER NOT NULL,
     sessions TEXT NOT NULL,
     raw_bytes INTEGER NOT NULL,
     gz_bytes INTEGER NOT NULL,
     indexed INTEGER NOT NULL DEFAULT 0,  -- 1 once D1's archive_days has the chunk's day
     created_at INTEGER NOT NULL
   );
   CREATE UNIQUE INDEX archive_chunks_hour_seq ON archive_chunks (hour, seq);
   CREATE INDEX archive_chunks_order ON archive_chunks (min_ts, min_id);`;
export const DEVICE_SCHEMA = [
  `CREATE TABLE metric_minutes (
     minute INTEGER PRIMARY KEY,   -- start of the UTC minute, ms
     samples INTEGER NOT NULL,
     data TEXT NOT NULL            -- {"cpu_usage": [sum, min, max, count], ...}
   );
   CREATE TABLE commands (
     id TEXT PRIMARY KEY,
     command TEXT NOT NULL,
     params TEXT,
     status TEXT NOT NULL,         -- queued | delivered | succeeded | failed | rejected | expired
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     delivered_at INTEGER,
     completed_at INTEGER,
     expired_at INTEGER,
     result TEXT
   );
   CREATE INDEX commands_open_idx ON commands (status, expires_at);`,

  // The hot store: lines by arrival (id), searched by event time (ts, µs) and full text.
  `CREATE TABLE logs (
     id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, even after the window empties the table
     ts INTEGER NOT NULL,
     level INTEGER NOT NULL,       -- 0 DEBUG, 1 INFO, 2 WARN, 3 ERROR, 4 FATAL
     module TEXT NOT NULL,
     logger TEXT,
     message TEXT NOT NULL,
     thread_id TEXT,
     process_id TEXT,
     session_id TEXT,
     context TEXT,                 -- JSON object or NULL
     received_at INTEGER NOT NULL  -- ms
   );
   CREATE INDEX logs_ts_idx ON logs (ts, id);
   CREATE INDEX logs_level_idx ON logs (level, ts);
   CREATE INDEX logs_module_idx ON logs (module, ts);
   CREATE INDEX logs_session_idx ON logs (session_id, ts);
   CREATE VIRTUAL TABLE logs_fts USING fts5 (message, content = 'logs', content_rowid = 'id');

   -- Answers to batches already taken, so a retried batch_id gets the same answer.
   CREATE TABLE batches (
     batch_id TEXT PRIMARY KEY,
     received_at INTEGER NOT NULL,
     answer TEXT NOT NULL
   );
   CREATE INDEX batches_received_idx ON batches (received_at);

   CREATE TABLE sessions (
     session_id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     status TEXT NOT NULL,         -- active | completed | failed | aborted
     started_at INTEGER NOT NULL,  -- ms
     completed_at INTEGER,
     total_logs INTEGER NOT NULL DEFAULT 0,
     error_count INTEGER NOT NULL DEFAULT 0,
     warning_count INTEGER NOT NULL DEFAULT 0,
     version INTEGER NOT NULL DEFAULT 1,
     flushed_version INTEGER NOT NULL DEFAULT 0
   );

   -- Usage this device owes its project, by UTC day of receipt. Rows of one seq travel
   -- together; the project applies each seq once (now kept in the state row: owed.ts; legacy-outbox.ts delivers what is left here).
   CREATE TABLE outbox (
     seq INTEGER NOT NULL,
     day TEXT NOT NULL,
     logs INTEGER NOT NULL DEFAULT 0,
     log_bytes INTEGER NOT NULL DEFAULT 0,
     sessions INTEGER NOT NULL DEFAULT 0,
     heartbeats INTEGER NOT NULL DEFAULT 0,
     device_messages_in INTEGER NOT NULL DEFAULT 0,
     device_messages_out INTEGER NOT NULL DEFAULT 0,
     commands INTEGER NOT NULL DEFAULT 0,
     api_calls INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (seq, day)
   );`,

  // The event-time hours this device has lines in, and whether its project's index knows.
  `CREATE TABLE log_hours (hour INTEGER PRIMARY KEY, reported INTEGER NOT NULL DEFAULT 0);
   INSERT INTO log_hours (hour) SELECT DISTINCT ts / 3600000000 FROM logs;`,

  // Counters added with the stats work.
  `ALTER TABLE outbox ADD COLUMN artifact_bytes INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE outbox ADD COLUMN error_lines INTEGER NOT NULL DEFAULT 0;`,

  // Time-bucket counts owed to the project, under the same sequences as the outbox rows.
  `CREATE TABLE outbox_buckets (
     seq INTEGER NOT NULL,
     minutes INTEGER NOT NULL,
     start INTEGER NOT NULL,       -- ms
     metric TEXT NOT NULL,
     n INTEGER NOT NULL,
     PRIMARY KEY (seq, minutes, start, metric)
   );`,

  // Of an outbox row's lines and bytes, what the project reserved against the monthly quota.
  `ALTER TABLE outbox ADD COLUMN reserved_logs INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE outbox ADD COLUMN reserved_bytes INTEGER NOT NULL DEFAULT 0;`,

  // Per-module and per-error-message tallies owed to the project (src/contract/tallies.ts).
  `CREATE TABLE outbox_tallies (
     seq INTEGER NOT NULL,
     day TEXT NOT NULL,
     kind TEXT NOT NULL,
     key TEXT NOT NULL,
     lines INTEGER NOT NULL,
     errors INTEGER NOT NULL,
     PRIMARY KEY (seq, day, kind, key)
   );`,

  // The log archive's manifest: one row per chunk in R2 (see archive.ts).
  ARCHIVE_SCHEMA,

  // The archive's newest line first, for a "latest" page that may need no chunk.
  `CREATE INDEX archive_chunks_end ON archive_chunks (max_ts, max_id);`,

  // The cost work (docs/COSTS.md): lines in chunks instead of a row each, metric minutes an hour
  // to a row, commands in a table that is its own key. The per-line table and the outbox tables
  // are read until they empty (legacy-lines.ts, legacy-outbox.ts).
  `${CHUNKS_SCHEMA}
   ${METRIC_HOURS_SCHEMA}
   ${COMMANDS_SCHEMA}
   DROP INDEX archive_chunks_hour_seq;`,

  // Sessions left D1 for the project's object (issue 22, ../project-hub/sessions.ts): every
  // ended session this device holds is told again, so the project has the ones D1 had (the
  // "ended sessions" timer sends them, 50 a call; the project keeps only its newest version).
  `UPDATE sessions SET flushed_version = 0 WHERE status != 'active';`,

  // Who sent each command (issue 23): JSON {kind, id, label}; null for commands from before.
  `ALTER TABLE device_commands ADD COLUMN sent_by TEXT;`,

  // Session timeouts (sessions.ts): when a session was last named, as far as its row knows (set
  // when it opens, and when the state's list of recent activity spills it); null for sessions
  // from before, which count from the first time the object looks. Status may now be timed_out.
  `ALTER TABLE sessions ADD COLUMN last_active_at INTEGER;`,
] as const;
