// The app as `npm start` runs it, metered (bench/meter.ts): the same Worker (HTTP, cron, the jobs
// queue's consumer) and the same object classes under the same names, so wrangler.toml's bindings
// fit. `npm run bench:cost` starts it with `wrangler dev bench/meter-entry.ts`, in this tree and
// in a checkout of the code before the cost work. It imports only src/index, whose exports differ
// between the two: the code before has no LogShard, no TailGroup and no queue consumer, so those
// are exported only as stand-ins there (its wrangler.toml binds none of them).
// Routes only the bench reaches:
//   - `GET /__meter`: every count so far (bench/meter.ts `Reading`);
//   - `POST /__meter/reset`: zeroes them;
//   - `GET /__meter/r2`: what R2 holds now, by project (listed without being counted);
//   - `POST /__meter/cron?cron=<cron string>`: runs that cron job now, as its trigger would.
import * as App from "../src/index";
import { instrument, meterBindings, queueMessages, r2Stored, reading, resetMeter, workerEvent } from "./meter";

const app = App.default as ExportedHandler<Env>;
/** An empty class where the code before has no such object (never bound, never made). */
const absent = class {} as unknown as typeof App.LogShard & typeof App.TailGroup;

export const DeviceHub = instrument(App.DeviceHub, "DeviceHub");
export const ProjectHub = instrument(App.ProjectHub, "ProjectHub");
export const FanIn = instrument(App.FanIn, "FanIn");
export const LogShard = instrument(App.LogShard ?? absent, "LogShard");
export const TailGroup = instrument(App.TailGroup ?? absent, "TailGroup");

/** A request's path as a route: ids and names in it replaced, so requests of one kind add up. */
function route(method: string, path: string): string {
  const parts = path.split("/").map((seg, i, all) => {
    if (i > 0 && all[i - 1] === "artifacts") return "*";
    return /\d/.test(seg) && seg.length >= 8 ? ":id" : seg;
  });
  const at = parts.indexOf("*");
  return `${method} ${(at >= 0 ? parts.slice(0, at + 1) : parts).join("/")}`;
}

export default {
  async fetch(req, env, ctx) {
    meterBindings(env);
    const url = new URL(req.url);
    if (url.pathname === "/__meter") return Response.json(reading());
    if (url.pathname === "/__meter/reset" && req.method === "POST") return (resetMeter(), Response.json({ ok: true }));
    if (url.pathname === "/__meter/r2") return Response.json(await r2Stored(env.STORAGE));
    if (url.pathname === "/__meter/cron" && req.method === "POST") {
      const cron = url.searchParams.get("cron") ?? "";
      const waits: Promise<unknown>[] = [];
      const jobCtx = {
        waitUntil: (p: Promise<unknown>) => void waits.push(p),
        passThroughOnException() {},
        props: {},
      } as unknown as ExecutionContext;
      await workerEvent(`cron ${cron}`, false, async () => {
        await app.scheduled!({ cron, scheduledTime: Date.now(), noRetry() {} } as ScheduledController, env, jobCtx);
        await Promise.all(waits);
      });
      return Response.json({ ok: true });
    }
    return workerEvent(route(req.method, url.pathname), true, () => app.fetch!(req, env, ctx));
  },
  scheduled(controller, env, ctx) {
    meterBindings(env);
    return workerEvent(`cron ${controller.cron}`, false, () => app.scheduled!(controller, env, ctx));
  },
  // Each consumer invocation is counted as a Worker request (a conservative reading of the
  // Workers price page), and each message it takes as three Queues operations.
  async queue(batch, env, ctx) {
    meterBindings(env);
    if (!app.queue) return;
    await workerEvent(`queue ${batch.queue}`, true, async () => {
      queueMessages(batch.messages.length);
      await app.queue!(batch, env, ctx);
    });
  },
} satisfies ExportedHandler<Env>;
