// SQLite schema of a FanIn object. Each entry is one migration step (see sql-migrations.ts).
export const FAN_IN_SCHEMA = [
  `-- What the devices delivered, gathered per sequence of this object's own outbox
   -- (../usage-outbox.ts): the same tables as a device's, plus the devices' days.
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
   -- The last sequence applied from each device (../sequence-ledger.ts).
   CREATE TABLE device_seqs (device_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);`,
] as const;
