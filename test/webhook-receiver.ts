// A real webhook receiver for the workerd tests: a small HTTP server on 127.0.0.1, started
// in Node by vitest before the tests (globalSetup) and named to them by `inject("webhooks")`.
// Each hook path keeps what it received, whether its signature checked out (with the secret
// the test told it), and can be told to fail its next N deliveries with a 500.
//   POST /hook/<name>            a delivery
//   POST /control/<name>         {secret?, fail?}  what to check with, and how many to fail
//   GET  /control/<name>         {received: [{status, verified, body, headers}]}
import { createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { TestProject } from "vitest/node";

interface Hook {
  secret?: string;
  fail: number;
  received: { status: number; verified: boolean; body: unknown; headers: Record<string, string> }[];
}

/** What a receiver does with fleetbeat's headers: HMAC-SHA-256 of "<timestamp>.<body>", compared in constant time. */
function verify(secret: string, timestamp: string, body: string, signature: string): boolean {
  const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`);
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export default async function setup(project: TestProject) {
  const hooks = new Map<string, Hook>();
  const hook = (name: string) => hooks.get(name) ?? (hooks.set(name, { fail: 0, received: [] }).get(name) as Hook);
  const server = http.createServer((req, res) => {
    let text = "";
    req.on("data", (d) => (text += d));
    req.on("end", () => {
      const [, kind, name = ""] = (req.url ?? "").split("/");
      const h = hook(name);
      if (kind === "control" && req.method === "POST") {
        const c = JSON.parse(text || "{}");
        if (c.secret !== undefined) h.secret = c.secret;
        if (c.fail !== undefined) h.fail = c.fail;
        return res.writeHead(204).end();
      }
      if (kind === "control")
        return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ received: h.received }));
      if (kind !== "hook") return res.writeHead(404).end();
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      const verified =
        h.secret !== undefined &&
        verify(h.secret, headers["x-fleetbeat-timestamp"] ?? "", text, headers["x-fleetbeat-signature"] ?? "");
      const status = h.fail > 0 ? 500 : 200;
      if (h.fail > 0) h.fail--;
      h.received.push({ status, verified, body: JSON.parse(text), headers });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  project.provide("webhooks", `http://127.0.0.1:${(server.address() as { port: number }).port}`);
  return () => new Promise<void>((r) => server.close(() => r()));
}

declare module "vitest" {
  export interface ProvidedContext {
    webhooks: string;
  }
}
