// The org's storage as one figure, kept in the org's own hub (a ProjectHub named `org:<org id>`,
// src/stubs/project-hub.ts), so an upload's quota check asks one object however many projects
// the org has.
//
// Each project's object reports its absolute storage total, under a version it raises with
// every change; the org's hub keeps the latest version of each project and their sum. A report
// applied twice, late or out of order changes nothing (an older or equal version is ignored),
// so the sum is exact as soon as each project's last report is in. A file stored or deleted is
// reported at once, before the project's object answers, so the next upload's check sees it.
// Archived logs move storage with device deliveries, each device about once an hour: those
// changes are reported by the project's alarm within ORG_REPORT.delayMs, once for all that came
// meanwhile. A report that fails is sent again by the alarm. A deleted project is forgotten for
// good.
//
// Projects that held storage before the org's hub kept the figure have never reported: the
// org's hub asks each of them once, the first time the figure is read (`seed`).
import { createDb } from "../src/db/client";
import { findProject, listProjects } from "../src/db/repos/projects";
import type { ObjectStorage } from "./storage";
import type { Timers } from "./timers";

/** How long archive changes wait to be reported together (an object, so tests can shorten it). */
export const ORG_REPORT = { delayMs: 10_000 };

/** A project's storage total under the version of its last change. */
export interface StorageReport {
  version: number;
  bytes: number;
}

/** The hub methods this part calls on other hubs (typed narrowly: the class imports this file). */
interface StorageHub {
  storageReport(): Promise<StorageReport>;
  reportStorage(projectId: string, report: StorageReport): Promise<void>;
  forgetStorage(projectId: string): Promise<void>;
}

function hubNamed(env: Env, name: string): StorageHub {
  const ns = env.PROJECT_HUB as unknown as DurableObjectNamespace;
  return ns.get(ns.idFromName(name)) as unknown as StorageHub;
}

const orgHubName = (orgId: string) => `org:${orgId}`;

/** The project's side: its version, what the org has heard, and its org. */
const REPORT_KEY = "org_storage_report";
const ORG_KEY = "org_storage_org";
/**
 * The org's side: each project's latest report (or that it is gone), their sum, and whether every project was
 * asked once.
 */
const entryKey = (projectId: string) => `org_storage/${projectId}`;
const TOTAL_KEY = "org_storage_total";
const SEEDED_KEY = "org_storage_seeded";
/** Projects listed a page at a time while seeding. */
const SEED_PAGE = 100;

interface ReportState {
  version: number;
  /** The highest version the org's hub has acknowledged. */
  reported: number;
  /** The project was deleted: nothing more is reported. */
  retired?: boolean;
}

type Entry = StorageReport | { gone: true };

export class StorageReporter {
  /** When the alarm reports changes left for it (memory only: after a restart, at once). */
  private dueAt: number | null = null;

  constructor(
    private readonly storage: ObjectStorage,
    private readonly timers: Timers,
    private readonly env: Env,
    private readonly projectId: () => string,
    private readonly bytes: () => number,
  ) {
    timers.add({
      name: "org storage report",
      due: () => (this.pending ? (this.dueAt ?? 0) : null),
      fire: () => this.send(),
    });
  }

  private get state(): ReportState {
    return this.storage.kv.get<ReportState>(REPORT_KEY) ?? { version: 0, reported: 0 };
  }

  private get pending(): boolean {
    const s = this.state;
    return !s.retired && s.reported < s.version;
  }

  /** The total now, under the version of the last change (what the org's hub asks when it seeds). */
  current(): StorageReport {
    return { version: this.state.version, bytes: this.bytes() };
  }

  /** A new version for a change; false once the project is retired. */
  private bump(): boolean {
    const s = this.state;
    if (s.retired) return false;
    this.storage.kv.put(REPORT_KEY, { ...s, version: s.version + 1 });
    return true;
  }

  /** A file stored or deleted: told to the org now; if that fails, the alarm tells it. */
  async changed(): Promise<void> {
    if (!this.bump()) return;
    try {
      await this.send();
    } catch (err) {
      console.error("telling the org's hub of the project's storage failed; the alarm tries again", err);
      await this.timers.arm();
    }
  }

  /** Archived logs written or deleted: told to the org by the alarm, within ORG_REPORT.delayMs. */
  async changedSoon(): Promise<void> {
    if (!this.bump()) return;
    this.dueAt ??= Date.now() + ORG_REPORT.delayMs;
    await this.timers.arm();
  }

  /** The project is deleted: its org forgets it, and it reports nothing more. */
  async retire(): Promise<void> {
    this.storage.kv.put(REPORT_KEY, { ...this.state, retired: true });
    const orgId = await this.orgId();
    if (orgId) await hubNamed(this.env, orgHubName(orgId)).forgetStorage(this.projectId());
  }

  private async send(): Promise<void> {
    const report = this.current();
    const orgId = await this.orgId();
    // No org: the project is gone from D1, and its org has forgotten it.
    if (orgId) await hubNamed(this.env, orgHubName(orgId)).reportStorage(this.projectId(), report);
    const s = this.state;
    this.storage.kv.put(REPORT_KEY, { ...s, reported: Math.max(s.reported, report.version) });
    // A change that came while this report was on its way stays pending, due at once.
    if (!this.pending) this.dueAt = null;
  }

  /** The project's org, read from D1 once and kept. */
  private async orgId(): Promise<string | undefined> {
    const kept = this.storage.kv.get<string>(ORG_KEY);
    if (kept) return kept;
    const project = await findProject(createDb(this.env.DB), this.projectId());
    if (project) this.storage.kv.put(ORG_KEY, project.orgId);
    return project?.orgId;
  }
}

export class OrgStorage {
  constructor(
    private readonly storage: ObjectStorage,
    private readonly env: Env,
    /** This hub's org (its name is `org:<org id>`). */
    private readonly orgId: () => string,
  ) {}

  /** A project's report: applied if it is newer than what the hub holds of that project. */
  apply(projectId: string, report: StorageReport): void {
    const kv = this.storage.kv;
    const held = kv.get<Entry>(entryKey(projectId));
    if (held && ("gone" in held || held.version >= report.version)) return;
    this.storage.transactionSync(() => {
      kv.put(entryKey(projectId), report);
      kv.put(TOTAL_KEY, (kv.get<number>(TOTAL_KEY) ?? 0) + report.bytes - (held?.bytes ?? 0));
    });
  }

  /** A deleted project: its bytes leave the figure, and no later report brings them back. */
  forget(projectId: string): void {
    const kv = this.storage.kv;
    const held = kv.get<Entry>(entryKey(projectId));
    if (held && "gone" in held) return;
    this.storage.transactionSync(() => {
      kv.put(entryKey(projectId), { gone: true });
      kv.put(TOTAL_KEY, (kv.get<number>(TOTAL_KEY) ?? 0) - (held?.bytes ?? 0));
    });
  }

  /** The bytes the org's projects hold in R2. */
  async total(): Promise<number> {
    if (!this.storage.kv.get<boolean>(SEEDED_KEY)) await this.seed();
    return Math.max(0, this.storage.kv.get<number>(TOTAL_KEY) ?? 0);
  }

  /** Asks every project of the org once for its total (reports that come meanwhile are ordered by their versions). */
  private async seed(): Promise<void> {
    const db = createDb(this.env.DB);
    for (let afterId: string | undefined; ; ) {
      const page = await listProjects(db, this.orgId(), { afterId, limit: SEED_PAGE });
      const reports = await Promise.all(page.map((p) => hubNamed(this.env, p.id).storageReport()));
      for (const [i, p] of page.entries()) this.apply(p.id, reports[i]!);
      if (page.length < SEED_PAGE) break;
      afterId = page[page.length - 1]!.id;
    }
    this.storage.kv.put(SEEDED_KEY, true);
  }
}
