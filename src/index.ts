// The Worker's entry: HTTP through the Hono app, cron triggers onto the jobs queue, the
// queue's messages through its consumer, and the Durable Object classes wrangler.toml binds.
import { app } from "./app";
import { consumeJobs } from "./jobs/consumer";
import { runScheduled } from "./jobs/schedule";

export { DeviceHub } from "../durable-objects/device-hub/hub";
export { FanIn } from "../durable-objects/fan-in/hub";
export { LogShard } from "../durable-objects/log-shard/shard";
export { ProjectHub } from "../durable-objects/project-hub/hub";
export { TailGroup } from "../durable-objects/tail-group/hub";

export default {
  fetch: app.fetch,
  async scheduled(controller, env) {
    await runScheduled(controller.cron, controller.scheduledTime, env.JOBS);
  },
  async queue(batch, env) {
    await consumeJobs(batch, env);
  },
} satisfies ExportedHandler<Env>;
