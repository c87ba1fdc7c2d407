// SQLite schema of a ProjectHub. Each entry is one migration step (see sql-migrations.ts).
export const PROJECT_SCHEMA = [
  `-- Exact usage by UTC day of receipt; a month is the sum of its days.
   CREATE TABLE usage_days (
     day TEXT PRIMARY KEY,
     logs INTEGER NOT NULL DEFAULT 0,
     log_bytes INTEGER NOT NULL DEFAULT 0,
     sessions INTEGER NOT NULL DEFAULT 0,
     heartbeats INTEGER NOT NULL DEFAULT 0,
     device_messages_in INTEGER NOT NULL DEFAULT 0,
     device_messages_out INTEGER NOT NULL DEFAULT 0,
     commands INTEGER NOT NULL DEFAULT 0,
     api_calls INTEGER NOT NULL DEFAULT 0
   );
   -- The last outbox sequence applied from each device: a redelivery is ignored.
   CREATE TABLE device_seqs (device_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
   CREATE TABLE active_devices (month TEXT NOT NULL, device_id TEXT NOT NULL, PRIMARY KEY (month, device_id));
   -- Live-tail tickets: single use, short-lived, stored as hashes.
   CREATE TABLE tickets (hash TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);`,

  // Which devices have lines in which event-time hour: project-wide searches ask only those.
  `CREATE TABLE device_hours (hour INTEGER NOT NULL, device_id TEXT NOT NULL, PRIMARY KEY (hour, device_id));`,

  // Which org key minted each ticket: a revoked key's tickets open nothing.
  `ALTER TABLE tickets ADD COLUMN org_id TEXT;
   ALTER TABLE tickets ADD COLUMN key_id TEXT;`,

  // Counters added with the stats work, and the devices active on each day. (The month table
  // active_devices above is no longer written: "active" now means a recent heartbeat, read from D1.)
  `ALTER TABLE usage_days ADD COLUMN artifact_bytes INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE usage_days ADD COLUMN error_lines INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE active_device_days (day TEXT NOT NULL, device_id TEXT NOT NULL, PRIMARY KEY (day, device_id));`,

  // Counts by time bucket (see src/contract/buckets.ts), kept BUCKET_KEEP_DAYS per size.
  `CREATE TABLE buckets (
     minutes INTEGER NOT NULL,
     metric TEXT NOT NULL,
     start INTEGER NOT NULL,       -- ms
     n INTEGER NOT NULL,
     PRIMARY KEY (minutes, metric, start)
   );`,

  // API analytics by hour, route pattern and status class (see api-stats.ts).
  `CREATE TABLE api_hours (
     hour INTEGER NOT NULL,
     route TEXT NOT NULL,
     status_class TEXT NOT NULL,
     count INTEGER NOT NULL,
     hist TEXT NOT NULL,           -- JSON: latency bucket -> count (src/contract/latency-histogram.ts)
     PRIMARY KEY (hour, route, status_class)
   );`,

  // Lines and errors per device, per module and per error-message shape, by day of receipt.
  `CREATE TABLE device_days (day TEXT NOT NULL, device_id TEXT NOT NULL, lines INTEGER NOT NULL, errors INTEGER NOT NULL, PRIMARY KEY (day, device_id));
   CREATE TABLE tallies (day TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, lines INTEGER NOT NULL, errors INTEGER NOT NULL, PRIMARY KEY (day, kind, key));`,

  // The Worker's API record batches already applied (src/services/api-analytics.ts), kept a day.
  `CREATE TABLE api_batches (id TEXT PRIMARY KEY, at INTEGER NOT NULL);
   CREATE INDEX api_batches_at ON api_batches (at);`,

  // Alerts (alerts.ts): the ones firing now, by rule and subject (a device id, or "project"),
  // with a resolution held back by the rule's min_firing_s; the webhooks still to send, each
  // with its body, target and next try; and what D1 is still to be told (alerts, attempts).
  `CREATE TABLE alert_open (
     rule_id TEXT NOT NULL,
     subject TEXT NOT NULL,
     alert TEXT NOT NULL,          -- JSON: the AlertRecord as it fired
     resolve_at INTEGER,           -- ms: a resolution waiting for min_firing_s
     resolve_summary TEXT,
     PRIMARY KEY (rule_id, subject)
   );
   CREATE TABLE webhook_queue (
     id TEXT PRIMARY KEY,          -- <alert id>.<state>.<target id>
     rule_id TEXT NOT NULL,
     alert_id TEXT NOT NULL,
     target_id TEXT NOT NULL,
     state TEXT NOT NULL,
     url TEXT NOT NULL,
     secret TEXT NOT NULL,
     body TEXT NOT NULL,
     attempt INTEGER NOT NULL,
     first_at INTEGER NOT NULL,
     next_at INTEGER NOT NULL
   );
   CREATE TABLE alert_d1_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, record TEXT NOT NULL);`,

  // The intake and packed aggregates (usage.ts, ../intake.ts): a delivery writes one row, its
  // sender's; a fold writes a row per day (and bucket size) it touches. What the tables before
  // held is carried over: each sender's last sequence, and the devices' days, tallies and
  // buckets packed per day. usage_days is rebuilt WITHOUT ROWID (a new day is one row, not two).
  `CREATE TABLE intake (
     sender TEXT PRIMARY KEY,
     seq INTEGER NOT NULL,                   -- the last sequence applied
     epoch INTEGER NOT NULL DEFAULT 0,       -- the newest epoch in pending
     pending TEXT NOT NULL DEFAULT '{}',     -- JSON: epoch -> counts not taken yet (a Delta)
     sender_rows INTEGER NOT NULL DEFAULT 0, -- storage rows the sender's devices wrote, lifetime
     relay_rows INTEGER NOT NULL DEFAULT 0,  -- a fan-in sender's own storage rows, as it last said
     own_rows INTEGER NOT NULL DEFAULT 0,    -- this object's own storage rows when the row was written
     taken INTEGER NOT NULL DEFAULT 0        -- the epoch taken through when the row was written
   ) WITHOUT ROWID;
   INSERT INTO intake (sender, seq) SELECT device_id, seq FROM device_seqs;
   DROP TABLE device_seqs;

   CREATE TABLE usage_days_packed (
     day TEXT PRIMARY KEY,
     logs INTEGER NOT NULL DEFAULT 0,
     log_bytes INTEGER NOT NULL DEFAULT 0,
     sessions INTEGER NOT NULL DEFAULT 0,
     heartbeats INTEGER NOT NULL DEFAULT 0,
     device_messages_in INTEGER NOT NULL DEFAULT 0,
     device_messages_out INTEGER NOT NULL DEFAULT 0,
     commands INTEGER NOT NULL DEFAULT 0,
     api_calls INTEGER NOT NULL DEFAULT 0,
     artifact_bytes INTEGER NOT NULL DEFAULT 0,
     error_lines INTEGER NOT NULL DEFAULT 0
   ) WITHOUT ROWID;
   INSERT INTO usage_days_packed (day, logs, log_bytes, sessions, heartbeats, device_messages_in, device_messages_out, commands, api_calls, artifact_bytes, error_lines)
     SELECT day, logs, log_bytes, sessions, heartbeats, device_messages_in, device_messages_out, commands, api_calls, artifact_bytes, error_lines FROM usage_days;
   DROP TABLE usage_days;
   ALTER TABLE usage_days_packed RENAME TO usage_days;

   -- Of the lines and bytes reserved against a month's quota, those delivered since (quota.ts).
   CREATE TABLE quota_settled (month TEXT PRIMARY KEY, logs INTEGER NOT NULL, bytes INTEGER NOT NULL) WITHOUT ROWID;

   -- Each day's active devices: JSON device id -> [lines, errors].
   CREATE TABLE device_day_sets (day TEXT PRIMARY KEY, devices TEXT NOT NULL) WITHOUT ROWID;
   INSERT INTO device_day_sets (day, devices)
     SELECT day, json_group_object(device_id, json_array(lines, errors)) FROM (
       SELECT day, device_id, sum(lines) AS lines, sum(errors) AS errors FROM (
         SELECT day, device_id, 0 AS lines, 0 AS errors FROM active_device_days
         UNION ALL SELECT day, device_id, lines, errors FROM device_days
       ) GROUP BY day, device_id
     ) GROUP BY day;
   DROP TABLE device_days;
   DROP TABLE active_device_days;

   -- Each day's tallies: JSON kind -> key -> [lines, errors].
   CREATE TABLE tally_days (day TEXT PRIMARY KEY, tallies TEXT NOT NULL) WITHOUT ROWID;
   INSERT INTO tally_days (day, tallies)
     SELECT day, json_group_object(kind, json(keys)) FROM (
       SELECT day, kind, json_group_object(key, json_array(lines, errors)) AS keys FROM tallies GROUP BY day, kind
     ) GROUP BY day;
   DROP TABLE tallies;

   -- Each size's buckets of a UTC day: JSON slot (the bucket's index in the day) -> counts, in
   -- the order of BUCKET_METRIC_ORDER (../intake.ts).
   CREATE TABLE bucket_days (minutes INTEGER NOT NULL, day TEXT NOT NULL, counts TEXT NOT NULL, PRIMARY KEY (minutes, day)) WITHOUT ROWID;
   INSERT INTO bucket_days (minutes, day, counts)
     SELECT minutes, day, json_group_object(slot, json(counts)) FROM (
       SELECT minutes, strftime('%Y-%m-%d', start / 1000, 'unixepoch') AS day, (start % 86400000) / (minutes * 60000) AS slot,
         json_array(
           sum(CASE metric WHEN 'logs_debug' THEN n ELSE 0 END), sum(CASE metric WHEN 'logs_info' THEN n ELSE 0 END),
           sum(CASE metric WHEN 'logs_warn' THEN n ELSE 0 END), sum(CASE metric WHEN 'logs_error' THEN n ELSE 0 END),
           sum(CASE metric WHEN 'logs_fatal' THEN n ELSE 0 END), sum(CASE metric WHEN 'heartbeats' THEN n ELSE 0 END),
           sum(CASE metric WHEN 'device_messages_in' THEN n ELSE 0 END), sum(CASE metric WHEN 'device_messages_out' THEN n ELSE 0 END),
           sum(CASE metric WHEN 'api_calls' THEN n ELSE 0 END)
         ) AS counts
       FROM buckets GROUP BY minutes, start
     ) GROUP BY minutes, day;
   DROP TABLE buckets;`,

  // When each sender last delivered counts, kept in the row the delivery writes anyway: a stats
  // read asks the devices that delivered lately to send what they still owe, even after the
  // object restarted (services/fresh-counts.ts).
  `ALTER TABLE intake ADD COLUMN delivered_at INTEGER NOT NULL DEFAULT 0;`,

  // The index of which devices had lines in which hours went with log shards (searches ask the shards).
  `DROP TABLE device_hours;`,

  // The fleet's live picture (presence.ts): each device's latest transition, numbered so D1's
  // batches know what they have written; and, in each sender's intake row, what its deliveries
  // last said of its devices' presence (JSON: device id -> report), written with the delivery.
  `CREATE TABLE presence (device_id TEXT PRIMARY KEY, report TEXT NOT NULL, seq INTEGER NOT NULL) WITHOUT ROWID;
   ALTER TABLE intake ADD COLUMN seen TEXT;`,

  // The project's sessions (sessions.ts), moved out of D1: one row each, keyed by the session id
  // (unique within the project), with the device that claimed it. Two indexes only, each entry a
  // billed row write: the list's order (started_at, then the key, which every entry carries) and
  // one device's sessions in that order. Status and time filters ride the first.
  `CREATE TABLE sessions (
     session_id TEXT PRIMARY KEY,
     device_id TEXT NOT NULL,
     name TEXT NOT NULL,
     status TEXT NOT NULL,
     started_at INTEGER NOT NULL,   -- ms
     completed_at INTEGER,          -- ms
     total_logs INTEGER NOT NULL DEFAULT 0,
     error_count INTEGER NOT NULL DEFAULT 0,
     warning_count INTEGER NOT NULL DEFAULT 0,
     version INTEGER NOT NULL DEFAULT 0  -- the newest version its device sent
   ) WITHOUT ROWID;
   CREATE INDEX sessions_started ON sessions (started_at);
   CREATE INDEX sessions_device ON sessions (device_id, started_at);`,

  // API analytics rebuilt WITHOUT ROWID, and the batch ids without their time index: a flush
  // writes one row for its batch id (was three: the row, its key, its time) and one for each new
  // hour, route and status (was two). Old batch ids go once an hour, found by a scan (api-stats.ts).
  `CREATE TABLE api_batches_new (id TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;
   INSERT INTO api_batches_new SELECT id, at FROM api_batches;
   DROP TABLE api_batches;
   ALTER TABLE api_batches_new RENAME TO api_batches;
   CREATE TABLE api_hours_new (
     hour INTEGER NOT NULL,
     route TEXT NOT NULL,
     status_class TEXT NOT NULL,
     count INTEGER NOT NULL,
     hist TEXT NOT NULL,
     PRIMARY KEY (hour, route, status_class)
   ) WITHOUT ROWID;
   INSERT INTO api_hours_new SELECT hour, route, status_class, count, hist FROM api_hours;
   DROP TABLE api_hours;
   ALTER TABLE api_hours_new RENAME TO api_hours;`,

  // The org's audit log (audit.ts), used in an org's own hub only: one row an event, keyed by
  // its id (time order), with no index; the columns beside the event are what pages filter by.
  `CREATE TABLE audit_events (
     id INTEGER PRIMARY KEY,
     actor_id TEXT NOT NULL,
     action TEXT NOT NULL,
     target_id TEXT NOT NULL,
     project_id TEXT,
     event TEXT NOT NULL
   );`,
] as const;
