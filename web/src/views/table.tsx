// The one table of the dashboard: column headers that sort (click, or Enter on the focused
// header; aria-sort says which way), numbers aligned right, and on a phone each row stacked as
// a card with its column names beside the values (style.css, `.table`).
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";

export interface Column<T> {
  key: string;
  label: string;
  /** What the cell shows. */
  cell: (row: T) => ComponentChildren;
  /** What the column sorts by; without it the column does not sort. */
  sort?: (row: T) => string | number | null;
  numeric?: boolean;
  /** Left out on a phone, where each row is a card (what the row's page shows anyway). */
  wide?: boolean;
}

export function Table<T>(props: {
  label: string;
  rows: T[];
  columns: Column<T>[];
  rowKey: (row: T) => string;
  /** The column sorted by at first, and which way. */
  initial?: { key: string; desc?: boolean };
  /** Shown instead of the table when there are no rows. */
  empty?: ComponentChildren;
  rowClass?: (row: T) => string;
}) {
  const [order, setOrder] = useState(props.initial ?? null);
  if (props.rows.length === 0 && props.empty) return <div class="empty">{props.empty}</div>;
  const by = order && props.columns.find((c) => c.key === order.key)?.sort;
  const rows = by
    ? [...props.rows].sort((a, b) => {
        const x = by(a);
        const y = by(b);
        // Nothing known sorts last either way.
        if (x === null || x === undefined) return y === null || y === undefined ? 0 : 1;
        if (y === null || y === undefined) return -1;
        const c =
          typeof x === "number" && typeof y === "number"
            ? x - y
            : String(x).localeCompare(String(y), undefined, { numeric: true });
        return order!.desc ? -c : c;
      })
    : props.rows;
  return (
    <div class="table-wrap">
      <table class="table" aria-label={props.label}>
        <thead>
          <tr>
            {props.columns.map((c) => {
              const sorted = order?.key === c.key ? (order.desc ? "descending" : "ascending") : undefined;
              return (
                <th
                  scope="col"
                  class={c.numeric ? "num" : undefined}
                  aria-sort={c.sort ? (sorted ?? "none") : undefined}
                >
                  {c.sort ? (
                    <button
                      type="button"
                      class="sort"
                      onClick={() => setOrder({ key: c.key, desc: order?.key === c.key ? !order.desc : !!c.numeric })}
                    >
                      {c.label}
                      <span aria-hidden="true">
                        {sorted === "ascending" ? " ▲" : sorted === "descending" ? " ▼" : ""}
                      </span>
                    </button>
                  ) : (
                    c.label
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={props.rowKey(r)} class={props.rowClass?.(r)}>
              {props.columns.map((c) => (
                <td
                  data-label={c.label}
                  class={[c.numeric ? "num" : "", c.wide ? "wide" : ""].join(" ").trim() || undefined}
                >
                  {c.cell(r)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
