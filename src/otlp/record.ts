// An OTLP log record as the rest of fleetbeat reads it, whichever encoding it came in
// (records.ts for protobuf, json.ts for OTLP JSON): flat, with what it needs of its resource and scope.

/** A value of an attribute or a body, as plain JavaScript (int64 beyond 2^53 as a string). */
export type Plain = string | number | boolean | null | Plain[] | { [key: string]: Plain };

export interface OtlpRecord {
  /** Nanoseconds since the epoch; 0n when unset. */
  timeUnixNano: bigint;
  observedTimeUnixNano: bigint;
  severityNumber: number;
  severityText: string;
  body: Plain;
  attributes: Record<string, Plain>;
  /** Hex, empty when unset. */
  traceId: string;
  spanId: string;
  scopeName: string;
  resource: Record<string, Plain>;
}
