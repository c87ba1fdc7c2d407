import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { orgKey } from "../auth/middleware";
import { notFound } from "../contract/errors";
import { GenerateCapsule } from "../contract/fleet";
import { audit } from "../http/audit";
import { describer } from "../http/describe";
import { jsonBody } from "../http/validate";
import { iso } from "../lib/time";
import { issueToken } from "../services/registration";
import { projectOfOrg } from "../services/tenancy";

const describe = describer("Fleet");

/** A capsule is what a device needs to join: where the backend is and a one-time token. */
export const capsules = new Hono<AppEnv>().post(
  "/generate",
  describe({
    summary: "Mint a one-time registration token",
    description: "The capsule is what a device needs to join: the backend's URL and the token (shown once).",
    answers: { 201: "The capsule" },
    errors: [() => notFound("project")],
  }),
  orgKey("admin"),
  jsonBody(GenerateCapsule),
  async (c) => {
    const body = c.req.valid("json");
    const { db, org } = c.var;
    const project = await projectOfOrg(db, org.orgId, body.project_id);
    const { secret, expiresAt } = await issueToken(db, org.orgId, project.id, body);
    // The token is a secret: the event names what it is for, and until when.
    await audit(c, {
      action: "capsule.generated",
      target: { kind: "project", id: project.id, label: project.name },
      projectId: project.id,
      summary: {
        dsn: body.dsn ?? null,
        device_type: body.device_type,
        environment: body.environment,
        expires_at: iso(expiresAt),
      },
    });
    return c.json(
      {
        capsule: {
          device: {
            dsn: body.dsn ?? null,
            type: body.device_type,
            environment: body.environment,
            name: body.name ?? null,
          },
          fleet: {
            project_id: project.id,
            backend_url: c.env.PUBLIC_URL || new URL(c.req.url).origin,
            registration_token: secret,
            expires_at: iso(expiresAt),
          },
        },
      },
      201,
    );
  },
);
