// `npm start`: the whole platform on this machine. Makes a local ADMIN_TOKEN if there is none,
// applies D1 migrations to the local database, runs `wrangler dev` on PORT (default 8787),
// and makes a demo org and project on first start (kept in .fleetbeat-demo.json).
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const port = Number(process.env.PORT ?? 8787);
const base = `http://localhost:${port}`;
const wrangler = ["exec", "--", "wrangler"];

function adminToken() {
  const existing = existsSync(".dev.vars") ? readFileSync(".dev.vars", "utf8") : "";
  const match = /^ADMIN_TOKEN\s*=\s*"?([^"\n]+)"?\s*$/m.exec(existing);
  if (match) return match[1];
  const token = randomBytes(32).toString("hex");
  writeFileSync(".dev.vars", `${existing}${existing && !existing.endsWith("\n") ? "\n" : ""}ADMIN_TOKEN=${token}\n`);
  console.log("wrote a new random ADMIN_TOKEN to .dev.vars");
  return token;
}

async function waitForHealth() {
  for (let i = 0; i < 240; i++) {
    try {
      const res = await fetch(`${base}/api/v1/health`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${base}/api/v1/health did not answer within 2 minutes`);
}

async function api(path, token, body) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method: body ? "POST" : "GET",
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: await res.json() };
}

/** The demo org and project, made once and found again on later starts. */
async function demo(admin) {
  if (existsSync(".fleetbeat-demo.json")) {
    const saved = JSON.parse(readFileSync(".fleetbeat-demo.json", "utf8"));
    if ((await api(`/projects/${saved.project_id}`, saved.api_key)).status === 200) return saved;
  }
  const org = await api("/orgs", admin, { name: "Demo org", tier: "pro" });
  const key = org.json.api_key.key;
  const project = await api("/projects", key, { name: "Demo project" });
  const saved = { org_id: org.json.org.id, project_id: project.json.project.id, api_key: key };
  writeFileSync(".fleetbeat-demo.json", `${JSON.stringify(saved, null, 2)}\n`);
  return saved;
}

const token = adminToken();
const migrate = spawnSync("npm", [...wrangler, "d1", "migrations", "apply", "DB", "--local"], {
  stdio: ["ignore", "inherit", "inherit"],
  env: { ...process.env, CI: "true" },
});
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const dev = spawn("npm", [...wrangler, "dev", "--port", String(port), "--ip", "127.0.0.1", "--show-interactive-dev-session=false"], {
  stdio: ["ignore", "inherit", "inherit"],
  // Offline machines cannot fetch the sample Request.cf object; use the built-in placeholder.
  env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: process.env.CLOUDFLARE_CF_FETCH_ENABLED ?? "false" },
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code) => process.exit(code ?? 0));

await waitForHealth();
const d = await demo(token);
console.log(`
fleetbeat is running at ${base}  (health: ${base}/api/v1/health)

  server admin token (creates orgs):  ${token}   (from .dev.vars)
  demo org ${d.org_id}, project ${d.project_id}
  demo org admin key:                 ${d.api_key}   (kept in .fleetbeat-demo.json)

Try:
  curl -H "Authorization: Bearer ${d.api_key}" ${base}/api/v1/projects
  curl -H "Authorization: Bearer ${d.api_key}" -H "content-type: application/json" \\
       -d '{"project_id":"${d.project_id}","device_type":"robot","environment":"dev"}' ${base}/api/v1/capsules/generate
`);
