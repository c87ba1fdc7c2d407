import * as fs from "node:fs";
import { hostname } from "node:os";
import { register } from "../agent.ts";
import { configDir, fail, option, savedFile } from "./config.ts";

export async function registerCommand(args: string[]) {
  const file = option(args, "--capsule") ?? fail("register needs --capsule <file>");
  const parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  // The saved answer of capsules/generate, or the capsule in it.
  const capsule = parsed.capsule ?? parsed;
  const backendUrl: string =
    capsule.fleet?.backend_url ?? fail(`${file} holds no capsule (fleet.backend_url is missing)`);
  const reg = await register(backendUrl, {
    dsn: capsule.device?.dsn ?? hostname(),
    registration_token: capsule.fleet.registration_token,
    ...(option(args, "--name") ? { name: option(args, "--name") } : {}),
  });
  fs.mkdirSync(configDir(), { recursive: true, mode: 0o700 });
  fs.writeFileSync(savedFile(), JSON.stringify({ ...reg, backend_url: backendUrl }, null, 2), { mode: 0o600 });
  fs.chmodSync(savedFile(), 0o600);
  console.log(`registered device ${reg.device_id} in project ${reg.project_id}; its key is in ${savedFile()}`);
}
