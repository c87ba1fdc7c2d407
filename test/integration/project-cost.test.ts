// What a device's delivery costs the project in storage rows written (Cloudflare bills them,
// $1.00 per million; issue 21). The project's side of a delivery writes one row, its sender's
// intake row, whatever the delivery carries (usage on several days, dozens of buckets and
// tallies); a delivery with nothing fresh (a retry after a lost answer, lines for the live
// tail alone) writes nothing; folding into the packed aggregate tables adds a small share.
// The rows counted are the objects' own (durable-objects/storage.ts), through the project's
// storageRows. Counts stay exact throughout.
import { abortAllDurableObjects, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { BucketMetric, BucketMinutes, BucketRow } from "../../src/contract/buckets";
import { FAN_IN } from "../../src/contract/fan-in";
import type { LogView } from "../../src/contract/log-view";
import type { TallyRow } from "../../src/contract/tallies";
import { type OutboxRow, USAGE_FIELDS, type UsageCounters } from "../../src/contract/usage";
import { addDays, isoMicros, utcDay } from "../../src/lib/time";
import { fanInByName, fanInName } from "../../src/stubs/fan-in";
import { projectHub } from "../../src/stubs/project-hub";
import { newOrg, newProject } from "./helpers";

const MINUTE = 60_000;
const SIZES: BucketMinutes[] = [1, 5, 15, 60];

/**
 * A device's delivery as its object seals it: five minutes of traffic, with lines on three
 * levels, heartbeats, a few modules and an error shape; now and then a day held up (yesterday).
 */
function delivery(seq: number, now: number, lateDay: boolean) {
  const day = utcDay(now);
  const usage = (d: string, logs: number): OutboxRow => ({
    ...(Object.fromEntries(USAGE_FIELDS.map((f) => [f, 0])) as UsageCounters),
    seq,
    day: d,
    logs,
    log_bytes: logs * 120,
    heartbeats: 10,
    device_messages_in: 12,
    device_messages_out: 1,
    api_calls: 12,
    error_lines: 2,
  });
  const rows = [usage(day, 40)];
  if (lateDay) rows.unshift(usage(addDays(day, -1), 3));
  rows[0]!.rows_written = 7;
  const buckets = new Map<string, BucketRow>();
  const add = (at: number, metric: BucketMetric, n: number) => {
    for (const minutes of SIZES) {
      const start = at - (at % (minutes * MINUTE));
      const key = `${minutes}:${start}:${metric}`;
      const b = buckets.get(key) ?? { seq, minutes, start, metric, n: 0 };
      b.n += n;
      buckets.set(key, b);
    }
  };
  for (let m = 0; m < 5; m++) {
    const at = now - m * MINUTE;
    add(at, "logs_info", 6);
    add(at, "logs_warn", 1);
    add(at, "heartbeats", 2);
    add(at, "device_messages_in", 2);
  }
  add(now, "logs_error", 2);
  add(now, "logs_debug", 3);
  const tallies: TallyRow[] = [
    { seq, day, kind: "module", key: "nav", lines: 20, errors: 0 },
    { seq, day, kind: "module", key: "lidar", lines: 12, errors: 2 },
    { seq, day, kind: "module", key: "camera", lines: 8, errors: 0 },
    { seq, day, kind: "error_message", key: "scan timeout after # ms", lines: 2, errors: 2 },
  ];
  return { rows, buckets: [...buckets.values()], tallies };
}

const sum = (rows: OutboxRow[], f: (typeof USAGE_FIELDS)[number]) => rows.reduce((n, r) => n + r[f], 0);

async function project() {
  const { adminKey } = await newOrg();
  return newProject(adminKey);
}

/** The project's own rows written, and those of its fan-in objects (storageRows.project), so far. */
const projectRows = async (projectId: string) => (await projectHub(env, projectId).storageRows()).project;

/** What the fan-in objects last told the project of their own rows. */
const fanInRows = (projectId: string) =>
  runInDurableObject(
    projectHub(env, projectId),
    (_hub, state) =>
      state.storage.sql.exec<{ n: number }>("SELECT coalesce(sum(relay_rows), 0) AS n FROM intake").one().n,
  );

interface Run {
  /** Deliveries the project (or the fan-in object) took, and those with fresh sequences. */
  deliveries: number;
  fresh: number;
  /** Rows the devices delivered, fresh ones only (what the counts must add up to). */
  counted: OutboxRow[];
}

/**
 * `devices` devices deliver `rounds` times each, interleaved. A tenth of the deliveries are
 * sent again (the answer was lost); every tenth device is watched, and sends lines for the
 * tail alone after each of its counts.
 */
async function drive(
  devices: number,
  rounds: number,
  deliver: (deviceId: string, d: ReturnType<typeof delivery>, lines: number) => Promise<unknown>,
): Promise<Run> {
  const run: Run = { deliveries: 0, fresh: 0, counted: [] };
  const now = Date.now();
  for (let r = 1; r <= rounds; r++) {
    for (let i = 0; i < devices; i++) {
      const d = delivery(r, now, (r + i) % 7 === 0);
      await deliver(`dev-${i}`, d, 0);
      run.deliveries++;
      run.fresh++;
      run.counted.push(...d.rows);
      if ((r * devices + i) % 10 === 3) {
        await deliver(`dev-${i}`, d, 0);
        run.deliveries++;
      }
      if (i % 10 === 0) {
        await deliver(`dev-${i}`, { rows: [], buckets: [], tallies: [] }, 5);
        run.deliveries++;
      }
    }
  }
  return run;
}

/** Lines for the live tail (nobody watches here). */
const lines = (n: number): LogView[] =>
  Array.from({ length: n }, (_, i) => {
    const us = Date.now() * 1000;
    return {
      id: `d:${i}`,
      device_id: "d",
      session_id: null,
      timestamp: isoMicros(us),
      timestamp_us: us,
      level: "INFO",
      module: "nav",
      logger: null,
      message: `line ${i}`,
      thread_id: null,
      process_id: null,
      context: null,
    };
  });

/** Folds what waits (closing the day before yesterday does, and moves none of the run's counts). */
const foldAll = (projectId: string) => projectHub(env, projectId).closeDay(addDays(utcDay(Date.now()), -2));

async function expectCounted(projectId: string, counted: OutboxRow[]) {
  const today = utcDay(Date.now());
  const usage = await projectHub(env, projectId).usage(today.slice(0, 7), today);
  for (const f of ["logs", "log_bytes", "heartbeats", "device_messages_in", "error_lines"] as const)
    expect(usage.lifetime[f], f).toBe(sum(counted, f));
}

describe("the project's side of a delivery, in storage rows written", () => {
  it("is one row for a delivery with fresh counts, whatever it carries, a device's or a fan-in object's; none for a retry or lines alone", async () => {
    const projectId = await project();
    const hub = projectHub(env, projectId);
    // Three days, forty buckets, fifty-odd tallies.
    const big = delivery(1, Date.now(), true);
    big.rows.push({ ...big.rows[0]!, day: addDays(big.rows[0]!.day, -2), rows_written: undefined });
    for (let k = 0; k < 50; k++)
      big.tallies.push({
        seq: 1,
        day: big.rows[0]!.day,
        kind: "error_message",
        key: `shape ${k}`,
        lines: 1,
        errors: 1,
      });
    expect(big.buckets.length).toBeGreaterThanOrEqual(40);
    const cost = async (deliver: () => Promise<unknown>) => {
      const before = await projectRows(projectId);
      await deliver();
      return (await projectRows(projectId)) - before;
    };
    await hub.deliver("dev-a", delivery(1, Date.now(), false).rows, []);
    expect(await cost(() => hub.deliver("dev-b", big.rows, [], 0, big.buckets, big.tallies))).toBe(1);
    expect(await cost(() => hub.deliver("dev-b", big.rows, [], 0, big.buckets, big.tallies))).toBe(0);
    expect(await cost(() => hub.deliver("dev-b", [], lines(20), 0))).toBe(0);
    const fromFanIn = {
      ...big,
      rows: big.rows.map((r) => ({ ...r, seq: 5 })),
      devices: Array.from({ length: 300 }, (_, i) => ({
        seq: 5,
        day: big.rows[0]!.day,
        device_id: `dev-${i}`,
        logs: 10,
        error_lines: 1,
      })),
    };
    expect(await cost(() => hub.deliverFanIn(fanInName(projectId, 0), fromFanIn, [], 0))).toBe(1);
    expect(await cost(() => hub.deliverFanIn(fanInName(projectId, 0), fromFanIn, [], 0))).toBe(0);
  });

  it("is a fold for a delivery too large for its sender's row (a spool of many days), which counts once", async () => {
    const projectId = await project();
    const hub = projectHub(env, projectId);
    const day = utcDay(Date.now());
    const d = delivery(1, Date.now(), false);
    // Three thousand error shapes of 150 characters.
    for (let i = 0; i < 3000; i++)
      d.tallies.push({
        seq: 1,
        day,
        kind: "error_message",
        key: `${String(i).padStart(6, "x")} ${"y".repeat(143)}`,
        lines: 1,
        errors: 1,
      });
    const before = await projectRows(projectId);
    await hub.deliver("dev-spool", d.rows, [], 0, d.buckets, d.tallies);
    await hub.deliver("dev-spool", d.rows, [], 0, d.buckets, d.tallies);
    // The sender's row, and each aggregate row of the fold: usage, devices, tallies, four bucket sizes, the epoch.
    expect((await projectRows(projectId)) - before).toBeLessThanOrEqual(12);
    expect((await hub.topErrors(day, day, 5000)).messages).toHaveLength(3001);
    await expectCounted(projectId, d.rows);
  });

  it("is one row for a delivery with fresh counts, nothing for one without, and folds add little: few devices", async () => {
    const projectId = await project();
    const hub = projectHub(env, projectId);
    const before = await projectRows(projectId);
    const run = await drive(3, 150, (id, d, n) => hub.deliver(id, d.rows, lines(n), 0, d.buckets, d.tallies));
    await foldAll(projectId);
    const rows = (await projectRows(projectId)) - before;
    console.log(
      `few devices: ${rows} rows for ${run.deliveries} deliveries (${run.fresh} fresh): ${(rows / run.deliveries).toFixed(3)} a delivery, ${(rows / run.fresh).toFixed(3)} a fresh one`,
    );
    expect(rows / run.deliveries).toBeLessThanOrEqual(1);
    expect(rows / run.fresh).toBeLessThanOrEqual(1.05);
    await expectCounted(projectId, run.counted);
  });

  it("is the same with many devices", async () => {
    const projectId = await project();
    const hub = projectHub(env, projectId);
    const before = await projectRows(projectId);
    const run = await drive(300, 4, (id, d, n) => hub.deliver(id, d.rows, lines(n), 0, d.buckets, d.tallies));
    await foldAll(projectId);
    const rows = (await projectRows(projectId)) - before;
    console.log(
      `many devices: ${rows} rows for ${run.deliveries} deliveries (${run.fresh} fresh): ${(rows / run.deliveries).toFixed(3)} a delivery, ${(rows / run.fresh).toFixed(3)} a fresh one`,
    );
    expect(rows / run.deliveries).toBeLessThanOrEqual(1);
    expect(rows / run.fresh).toBeLessThanOrEqual(1.05);
    await expectCounted(projectId, run.counted);
    // The rankings see every device.
    const today = utcDay(Date.now());
    expect((await hub.overview(today, today, 1000)).devices_by_lines).toHaveLength(300);
  });

  describe("through fan-in objects", () => {
    const usual = { ...FAN_IN };
    beforeEach(() => Object.assign(FAN_IN, { fromDevices: 2, devicesEach: 100, recountMs: 0 }));
    afterEach(() => Object.assign(FAN_IN, usual));

    it("is one row at the fan-in object for a device's fresh delivery, and at the project one for each of the fan-in object's", async () => {
      const projectId = await project();
      const names = [0, 1].map((i) => fanInName(projectId, i));
      const shard = (deviceId: string) => names[Number(deviceId.slice(4)) % 2]!;
      // Each fan-in object once, so its start (its schema) is not counted.
      for (const name of names)
        await fanInByName(env, name).deliver(name, `warm-${name}`, delivery(1, Date.now(), false).rows, []);
      for (const name of names) await fanInByName(env, name).flush();
      const projectBefore = (await projectRows(projectId)) - (await fanInRows(projectId));
      const fanInBefore = await fanInRows(projectId);
      let forwards = 0;
      const taken = new Map<string, number>();
      const run = await drive(200, 4, async (id, d, n) => {
        const name = shard(id);
        await fanInByName(env, name).deliver(name, id, d.rows, lines(n), 0, d.buckets, d.tallies);
        // A fan-in object passes its counts on every few seconds: here, every 25 deliveries it takes.
        taken.set(name, (taken.get(name) ?? 0) + 1);
        if (taken.get(name)! % 25 === 0) {
          await fanInByName(env, name).flush();
          forwards++;
        }
      });
      for (const name of names) await fanInByName(env, name).flush();
      forwards += names.length;
      await foldAll(projectId);
      const atFanIn = (await fanInRows(projectId)) - fanInBefore;
      const atProject = (await projectRows(projectId)) - (await fanInRows(projectId)) - projectBefore;
      console.log(
        `fan-in: ${atFanIn} rows at the fan-in objects for ${run.deliveries} deliveries (${run.fresh} fresh): ${(atFanIn / run.deliveries).toFixed(3)} a delivery, ${(atFanIn / run.fresh).toFixed(3)} a fresh one; ` +
          `${atProject} rows at the project for ${forwards} fan-in deliveries: ${(atProject / run.deliveries).toFixed(4)} a device's delivery`,
      );
      expect(atFanIn / run.deliveries).toBeLessThanOrEqual(1);
      expect(atFanIn / run.fresh).toBeLessThanOrEqual(1.05);
      // One row per fan-in delivery, and the fold.
      expect(atProject / run.deliveries).toBeLessThanOrEqual(0.1);
      await expectCounted(projectId, [...run.counted, ...names.flatMap(() => delivery(1, Date.now(), false).rows)]);
    });
  });

  it("stays exact when every object is torn down between deliveries and folds: what is not folded is rebuilt from the intake rows", async () => {
    const projectId = await project();
    const hub = () => projectHub(env, projectId);
    const counted: OutboxRow[] = [];
    for (let r = 1; r <= 30; r++) {
      for (let i = 0; i < 4; i++) {
        const d = delivery(r, Date.now(), r % 5 === 0);
        await hub().deliver(`dev-${i}`, d.rows, [], 0, d.buckets, d.tallies);
        counted.push(...d.rows);
        // The answer was lost: the device sends the same sequence again, to an object that may have restarted.
        if (r % 3 === 0) await abortAllDurableObjects();
        if (r % 3 === 0) await hub().deliver(`dev-${i}`, d.rows, [], 0, d.buckets, d.tallies);
      }
    }
    await expectCounted(projectId, counted);
    const today = utcDay(Date.now());
    const top = await hub().overview(today, today, 10);
    expect(top.devices_by_lines.map((d) => d.lines)).toEqual([1200, 1200, 1200, 1200]);
    expect(top.modules_by_lines[0]).toEqual({ key: "nav", lines: 20 * 120, errors: 0 });
    const minutes = await hub().series(
      60,
      ["logs_info", "logs_warn", "logs_error", "logs_debug"],
      Date.now() - 3 * 3_600_000,
      Date.now() + 3_600_000,
    );
    expect(minutes.reduce((n, b) => n + b.n, 0)).toBe(120 * (30 + 5 + 2 + 3));
    // Closing yesterday folds, and leaves today's counts where they were.
    await abortAllDurableObjects();
    const closed = await hub().closeDay(addDays(today, -1));
    expect(closed.logs).toBe(
      sum(
        counted.filter((r) => r.day < today),
        "logs",
      ),
    );
    await expectCounted(projectId, counted);
  });
});
