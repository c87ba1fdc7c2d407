import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { VERSION } from "../version";

export const health = new Hono<AppEnv>().get("/health", (c) => c.json({ ok: true, version: VERSION }));
