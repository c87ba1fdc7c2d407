// The Worker's HTTP surface: every route under /api/v1, every failure in the contract's shape.
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "./app-env";
import { createDb } from "./db/client";
import { ApiError, errorBody } from "./contract/errors";
import { capsules } from "./routes/capsules";
import { commands } from "./routes/commands";
import { devices } from "./routes/devices";
import { fleetDevice } from "./routes/fleet-device";
import { health } from "./routes/health";
import { keys } from "./routes/keys";
import { logs } from "./routes/logs";
import { me } from "./routes/me";
import { orgs } from "./routes/orgs";
import { projects } from "./routes/projects";
import { sessions } from "./routes/sessions";
import { stats } from "./routes/stats";

export const app = new Hono<AppEnv>();

app.use("/api/*", async (c, next) => {
  c.set("db", createDb(c.env.DB));
  await next();
});

const api = new Hono<AppEnv>()
  .route("/", health)
  .route("/orgs", orgs)
  .route("/projects", projects)
  .route("/keys", keys)
  .route("/me", me)
  .route("/capsules", capsules)
  .route("/fleet", fleetDevice)
  .route("/fleet/devices", devices)
  .route("/fleet/commands", commands)
  .route("/logs", logs)
  .route("/sessions", sessions)
  .route("/stats", stats);

app.route("/api/v1", api);

app.notFound((c) => c.json(errorBody("not_found", `no route for ${c.req.method} ${c.req.path}`), 404));

app.onError((err, c) => {
  if (err instanceof ApiError) {
    return c.json(errorBody(err.code, err.message, err.details), err.status, err.headers);
  }
  if (err instanceof HTTPException) {
    // Hono's own failures (for example a body it could not parse) are client errors.
    const status = err.status >= 400 && err.status < 500 ? err.status : 400;
    return c.json(errorBody(status === 413 ? "payload_too_large" : "bad_request", err.message), status);
  }
  console.error(`${c.req.method} ${c.req.path} failed`, err);
  return c.json(errorBody("internal", "internal error"), 500);
});
