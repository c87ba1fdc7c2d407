import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { oidcConfig } from "../auth/oidc";
import { VERSION } from "../contract/version";
import { describer } from "../http/describe";

/** The service's own routes; GET /openapi.json is beside them in app.ts, which it describes. */
export const describeService = describer("Service");

export const health = new Hono<AppEnv>()
  // sign_in: whether people can sign in here (an OpenID provider is configured), for the dashboard's button.
  .get(
    "/health",
    describeService({
      summary: "Liveness and version",
      description: "Answers `{ok, version, sign_in}`; `sign_in` says whether an OpenID provider is configured.",
      auth: "none",
    }),
    (c) => c.json({ ok: true, version: VERSION, sign_in: oidcConfig(c.env) !== null }),
  );
