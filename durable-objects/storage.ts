// The one door to an object's storage. Every SQL statement, key-value write and alarm an
// object makes goes through here, so the rows it writes, which Cloudflare bills at $1.00 per
// million, are counted where they happen (docs/COSTS.md):
// - a SQL statement counts what SQLite reports as written (`cursor.rowsWritten`): the row, each
//   index entry it touches, each row it deletes, one per FTS5 document;
// - a key-value put or delete is a row of the hidden table that holds them;
// - setting or deleting the alarm is modelled as one row too (Cloudflare stores it as a row; we
//   count it rather than assume it is free).
// Counts are kept in memory (`rowsWritten`); each object decides where its total is kept.

/** The statement runner the parts of an object use: SqlStorage's own `exec`. */
export type Sql = Pick<SqlStorage, "exec">;
/** The key-value half of an object's storage. */
export type Kv = Pick<SyncKvStorage, "get" | "put" | "delete" | "list">;

/** What the parts of an object may use of its storage. */
export interface ObjectStorage {
  readonly sql: Sql;
  readonly kv: Kv;
  transactionSync<T>(work: () => T): T;
  getAlarm(): Promise<number | null>;
  setAlarm(at: number | Date): Promise<void>;
  deleteAlarm(): Promise<void>;
  deleteAll(): Promise<void>;
}

export class CountedStorage implements ObjectStorage {
  /** Rows written since this object started (memory only). */
  private written = 0;
  readonly sql: Sql;
  readonly kv: Kv;

  constructor(private readonly storage: DurableObjectStorage) {
    this.sql = {
      exec: <T extends Record<string, SqlStorageValue>>(query: string, ...bindings: unknown[]) => {
        // SQLite makes every change of a statement, RETURNING or not, in its first step, which
        // exec takes at once: the count is final here.
        const cursor = storage.sql.exec<T>(query, ...bindings);
        this.written += cursor.rowsWritten;
        return cursor;
      },
    };
    const kv = storage.kv;
    this.kv = {
      get: kv.get.bind(kv),
      list: kv.list.bind(kv),
      put: (key: string, value: unknown) => {
        kv.put(key, value);
        this.written++;
      },
      delete: (key: string) => {
        const existed = kv.delete(key);
        if (existed) this.written++;
        return existed;
      },
    } as Kv;
  }

  /** Rows written so far by this object's life: statements, key-value writes and alarms. */
  get rowsWritten(): number {
    return this.written;
  }

  /** The tagged form: sql`SELECT … WHERE t <= ${now}`; values are bound, never spliced in. */
  query<T extends Record<string, SqlStorageValue>>(
    strings: TemplateStringsArray,
    ...values: SqlStorageValue[]
  ): SqlStorageCursor<T> {
    return this.sql.exec<T>(strings.join("?"), ...values);
  }

  transactionSync<T>(work: () => T): T {
    return this.storage.transactionSync(work);
  }

  getAlarm(): Promise<number | null> {
    return this.storage.getAlarm();
  }

  async setAlarm(at: number | Date): Promise<void> {
    await this.storage.setAlarm(at);
    this.written++;
  }

  async deleteAlarm(): Promise<void> {
    await this.storage.deleteAlarm();
    this.written++;
  }

  deleteAll(): Promise<void> {
    return this.storage.deleteAll();
  }
}
