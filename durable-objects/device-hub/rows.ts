// A stored log line as a device's object hands it around: the contract's record, as a row.
import type { LogRecord } from "../../src/contract/log-line";

export type LogRow = LogRecord & Record<string, SqlStorageValue>;
