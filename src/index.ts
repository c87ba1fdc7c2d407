// The Worker's entry: HTTP through the Hono app, cron through the job dispatcher, and the
// Durable Object classes wrangler.toml binds.
import { app } from "./app";
import { runScheduled } from "./jobs/schedule";

export { DeviceHub } from "../durable-objects/device-hub/hub";
export { ProjectHub } from "../durable-objects/project-hub/hub";
export { FanIn } from "../durable-objects/fan-in/hub";
export { TailGroup } from "../durable-objects/tail-group/hub";

export default {
  fetch: app.fetch,
  scheduled(controller, env, ctx) {
    ctx.waitUntil(runScheduled(controller.cron, controller.scheduledTime, env));
  },
} satisfies ExportedHandler<Env>;
