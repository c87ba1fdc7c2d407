import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { REGISTRATION_TOKEN_PREFIX } from "../contract/credentials";
import { orgKey } from "../auth/middleware";
import { registrationTokens } from "../db/schema";
import { jsonBody } from "../http/validate";
import { newId, newSecret, sha256 } from "../lib/crypto";
import { iso } from "../lib/time";
import { projectOfOrg } from "../services/tenancy";
import { GenerateCapsule } from "../contract/fleet";

/** A capsule is what a device needs to join: where the backend is and a one-time token. */
export const capsules = new Hono<AppEnv>().post("/generate", orgKey("admin"), jsonBody(GenerateCapsule), async (c) => {
  const body = c.req.valid("json");
  const { db, org } = c.var;
  const project = await projectOfOrg(db, org.orgId, body.project_id);
  const now = Date.now();
  const token = newSecret(REGISTRATION_TOKEN_PREFIX);
  const expiresAt = now + body.expires_in_s * 1000;
  await db.insert(registrationTokens).values({
    id: newId("tok", now),
    orgId: org.orgId,
    projectId: project.id,
    tokenHash: await sha256(token),
    deviceType: body.device_type,
    environment: body.environment,
    name: body.name ?? null,
    dsn: body.dsn ?? null,
    expiresAt,
    createdAt: now,
  });
  return c.json(
    {
      capsule: {
        device: { dsn: body.dsn ?? null, type: body.device_type, environment: body.environment, name: body.name ?? null },
        fleet: {
          project_id: project.id,
          backend_url: c.env.PUBLIC_URL || new URL(c.req.url).origin,
          registration_token: token,
          expires_at: iso(expiresAt),
        },
      },
    },
    201,
  );
});
