import * as fs from "node:fs";
import { agentOf, currentSession, fail, option, saved, sessionFile } from "./config.ts";

export async function sessionCommand(args: string[]) {
  const device = saved();
  const agent = agentOf(device);
  if (args[0] === "start") {
    const name = option(args, "--name") ?? fail("session start needs --name <name>");
    const id =
      option(args, "--id") ?? `${name.replace(/[^A-Za-z0-9._-]+/g, "-").slice(0, 80)}-${Date.now().toString(36)}`;
    await agent.startSession(id, name);
    fs.writeFileSync(sessionFile(), JSON.stringify({ session_id: id, name }), { mode: 0o600 });
    console.log(`session ${id} started`);
  } else if (args[0] === "end") {
    const status = (option(args, "--status") ?? "completed") as "completed" | "failed" | "aborted";
    if (!["completed", "failed", "aborted"].includes(status)) fail("--status is completed, failed or aborted");
    const id = currentSession() ?? fail("no session is open");
    await agent.endSession(status);
    fs.rmSync(sessionFile());
    console.log(`session ${id} ended: ${status}`);
  } else fail("session start --name <name> | session end [--status <status>]");
}
