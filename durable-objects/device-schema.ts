// SQLite schema of a DeviceHub. Each entry is one migration step (see sql-migrations.ts).
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
] as const;
