// A log shard's side of the monthly line quota (see project-hub/quota.ts). While the project
// last said plenty is left, lines are admitted without asking, and the local estimate goes
// down with each batch. Close to the limit, or before the project has said anything, each
// batch reserves its lines at the project, which grants as many as fit, in order. (A project
// has at most 64 shards, each hearing the project's word with its deliveries.)
import type { StoredLine } from "../../src/contract/log-line";
import type { QuotaState } from "../../src/contract/quota";
import { projectHub } from "../../src/stubs/project-hub";

/**
 * Below this much room, every batch asks the project: the larger of a fixed floor and a tenth
 * of the limit. Shards learn the room with every delivery, so counts stay exact while a
 * project's shards together take less than this between two deliveries of any one shard (docs/limits.md).
 */
const NEAR_LINES = 100_000;
const NEAR_BYTES = 100 * 1024 * 1024;
const NEAR_SHARE = 0.1;

export interface Admission {
  /** How many of the lines, in order, may be stored. */
  admitted: number;
  /** Whether the project reserved them (the outbox then settles the reservation). */
  reserved: boolean;
  /** The project's word, when it was asked. */
  state?: QuotaState;
}

export class QuotaGate {
  private known?: QuotaState;

  constructor(private readonly env: Env) {}

  /** The project's latest word (from a delivery's answer). */
  note(state: QuotaState | undefined): void {
    if (state) this.known = state;
  }

  async admit(who: { orgId: string; projectId: string }, lines: StoredLine[], month: string): Promise<Admission> {
    const bytes = lines.reduce((n, l) => n + l.bytes, 0);
    const s = this.known;
    // Past the month's device messages, no batch goes (the project's word, a second old at most).
    if (s && s.month === month && s.messages_in_left !== null && s.messages_in_left <= 0)
      return { admitted: 0, reserved: false, state: s };
    const roomy = (left: number | null, take: number, near: number) => left === null || left - take > near;
    const near = (floor: number, limit: number) => Math.max(floor, limit * NEAR_SHARE);
    if (
      s &&
      s.month === month &&
      roomy(s.logs_left, lines.length, near(NEAR_LINES, s.logs_limit)) &&
      roomy(s.log_bytes_left, bytes, near(NEAR_BYTES, s.log_bytes_limit))
    ) {
      if (s.messages_in_left !== null) s.messages_in_left--;
      if (s.logs_left !== null) s.logs_left -= lines.length;
      if (s.log_bytes_left !== null) s.log_bytes_left -= bytes;
      return { admitted: lines.length, reserved: false };
    }
    const grant = await projectHub(this.env, who.projectId).reserve(
      who.orgId,
      month,
      lines.map((l) => l.bytes),
    );
    this.known = grant.state;
    // Under soft limits nothing was reserved, so there is nothing to settle later.
    const reserved = grant.state.logs_left !== null || grant.state.log_bytes_left !== null;
    return { admitted: grant.granted, reserved, state: grant.state };
  }
}
