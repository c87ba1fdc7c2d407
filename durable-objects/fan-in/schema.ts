// SQLite schema of a FanIn object. Each entry is one migration step (see sql-migrations.ts).
export const FAN_IN_SCHEMA = [
  `-- What the devices delivered, gathered per sequence of this object's own outbox
   -- (kept for objects from before the intake, ../intake.ts, which moves what they hold): the same tables as a device's, plus the devices' days.
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
     artifact_bytes INTEGER NOT NULL DEFAULT 0,
     error_lines INTEGER NOT NULL DEFAULT 0,
     reserved_logs INTEGER NOT NULL DEFAULT 0,
     reserved_bytes INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (seq, day)
   );
   CREATE TABLE outbox_buckets (
     seq INTEGER NOT NULL,
     minutes INTEGER NOT NULL,
     start INTEGER NOT NULL,       -- ms
     metric TEXT NOT NULL,
     n INTEGER NOT NULL,
     PRIMARY KEY (seq, minutes, start, metric)
   );
   CREATE TABLE outbox_tallies (
     seq INTEGER NOT NULL,
     day TEXT NOT NULL,
     kind TEXT NOT NULL,
     key TEXT NOT NULL,
     lines INTEGER NOT NULL,
     errors INTEGER NOT NULL,
     PRIMARY KEY (seq, day, kind, key)
   );
   -- Each device active on a day, with its lines and errors (the project's rankings and
   -- active devices count them per device).
   CREATE TABLE outbox_devices (
     seq INTEGER NOT NULL,
     day TEXT NOT NULL,
     device_id TEXT NOT NULL,
     logs INTEGER NOT NULL,
     error_lines INTEGER NOT NULL,
     PRIMARY KEY (seq, day, device_id)
   );
   -- The last sequence applied from each device (before the intake, ../intake.ts).
   CREATE TABLE device_seqs (device_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);`,

  // The intake (../intake.ts, outbox.ts): one row per device, rewritten by each delivery with
  // fresh sequences, holding its last sequence and its counts by epoch until the project has
  // taken them. The devices' last sequences carry over; what the outbox tables above still hold
  // is moved into the intake when the object starts (outbox.ts), and they stay empty.
  `CREATE TABLE intake (
     sender TEXT PRIMARY KEY,
     seq INTEGER NOT NULL,                   -- the last sequence applied
     epoch INTEGER NOT NULL DEFAULT 0,       -- the newest epoch in pending
     pending TEXT NOT NULL DEFAULT '{}',     -- JSON: epoch -> counts not taken yet (a Delta)
     sender_rows INTEGER NOT NULL DEFAULT 0, -- storage rows the device's object wrote, lifetime
     relay_rows INTEGER NOT NULL DEFAULT 0,  -- unused here (the project's fan-in senders)
     own_rows INTEGER NOT NULL DEFAULT 0,    -- this object's own storage rows when the row was written
     taken INTEGER NOT NULL DEFAULT 0        -- the epoch the project had taken through when the row was written
   ) WITHOUT ROWID;
   INSERT INTO intake (sender, seq) SELECT device_id, seq FROM device_seqs;
   DROP TABLE device_seqs;`,

  // When each sender last delivered counts, kept in the row the delivery writes anyway: a stats
  // read asks the devices that delivered lately to send what they still owe, even after the
  // object restarted (services/fresh-counts.ts).
  `ALTER TABLE intake ADD COLUMN delivered_at INTEGER NOT NULL DEFAULT 0;`,
] as const;
