// A live-tail viewer on its way in: the project's object burns the ticket and picks the viewer
// group (src/contract/tail-plan.ts); the group accepts the WebSocket. The viewer travels from
// one to the other in a header of the upgrade request, which only the Worker and the project's
// object send (an object is never addressed from outside).
import type { TailFilter } from "./tail-filter";

/**
 * What a group needs to accept a viewer: the group's own name, the viewer's filter, the org key behind its
 * ticket, its window.
 */
export interface AdmittedViewer {
  group: string;
  filter: TailFilter;
  orgId: string;
  keyId: string;
  window?: number;
}

/**
 * The project's answer to a ticket: the group that takes the viewer and the org key the ticket acts for, or
 * the status that refuses it.
 */
export type Admission = { ok: true; group: string; orgId: string; keyId: string } | { ok: false; status: 401 | 429 };

const VIEWER_HEADER = "x-tail-viewer";

/** The upgrade request a group gets: the viewer's own, with the admitted viewer beside it. */
export function viewerRequest(request: Request, viewer: AdmittedViewer): Request {
  const headers = new Headers(request.headers);
  // Percent-encoded: header values are ASCII, filters may not be.
  headers.set(VIEWER_HEADER, encodeURIComponent(JSON.stringify(viewer)));
  return new Request(request.url, { headers });
}

/** The admitted viewer a group's request carries; null when it carries none. */
export function admittedViewer(request: Request): AdmittedViewer | null {
  const raw = request.headers.get(VIEWER_HEADER);
  return raw ? (JSON.parse(decodeURIComponent(raw)) as AdmittedViewer) : null;
}
