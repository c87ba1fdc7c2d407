import * as fs from "node:fs";
import { fail, option, saved, savedFile } from "./config.ts";

/** ANSI colours by level, for a terminal. */
const COLOUR: Record<string, string> = {
  DEBUG: "\x1b[2m",
  INFO: "",
  WARN: "\x1b[33m",
  ERROR: "\x1b[31m",
  FATAL: "\x1b[1;31m",
};

export async function logsCommand(args: string[]) {
  const key = process.env.FLEETBEAT_API_KEY ?? fail("logs needs an org key in FLEETBEAT_API_KEY");
  const device = fs.existsSync(savedFile()) ? saved() : undefined;
  const origin =
    process.env.FLEETBEAT_URL ?? device?.backend_url ?? fail("logs needs the server's URL in FLEETBEAT_URL");
  const filters: Record<string, string> = {};
  const projectId =
    option(args, "--project") ??
    (option(args, "--device") || option(args, "--session") ? undefined : device?.project_id);
  if (projectId) filters.project_id = projectId;
  for (const [flag, name] of [
    ["--device", "device_id"],
    ["--session", "session_id"],
    ["--level", "level"],
    ["-q", "q"],
  ] as const) {
    const v = option(args, flag);
    if (v) filters[name] = v;
  }
  const json = args.includes("--json");
  const colour = !json && process.stdout.isTTY;
  const print = (l: { timestamp: string; level: string; module: string; device_id: string; message: string }) => {
    if (json) console.log(JSON.stringify(l));
    else
      console.log(
        `${colour ? (COLOUR[l.level] ?? "") : ""}${l.timestamp} ${l.level.padEnd(5)} ${l.device_id} ${l.module}: ${l.message}${colour ? "\x1b[0m" : ""}`,
      );
  };
  const headers = { authorization: `Bearer ${key}` };
  const query = new URLSearchParams({ ...filters, limit: option(args, "--limit") ?? "100" });
  const res = await fetch(`${origin}/api/v1/logs?${query}`, { headers });
  const page = (await res.json()) as { logs?: Parameters<typeof print>[0][]; error?: { message: string } };
  if (!res.ok) fail(`the server answered ${res.status}: ${page.error?.message ?? "unknown error"}`);
  for (const l of [...page.logs!].reverse()) print(l);
  if (!args.includes("--follow")) return;
  const project = filters.project_id ?? fail("--follow needs --project (a live tail is per project)");
  for (;;) {
    const t = await fetch(`${origin}/api/v1/logs/stream/ticket`, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify({ project_id: project }),
    });
    const { ticket } = (await t.json()) as { ticket: string };
    const url = new URL(`${origin}/api/v1/logs/stream`);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.search = new URLSearchParams({
      ticket,
      ...Object.fromEntries(Object.entries(filters).filter(([k]) => k !== "project_id" && k !== "q")),
    }).toString();
    await new Promise<void>((closed) => {
      const ws = new WebSocket(url.toString());
      ws.addEventListener("message", (event) => {
        const frame = JSON.parse(String(event.data)) as {
          type: string;
          seq?: number;
          logs?: Parameters<typeof print>[0][];
          count?: number;
        };
        if (frame.seq !== undefined) ws.send(JSON.stringify({ type: "ack", seq: frame.seq }));
        if (frame.type === "logs")
          for (const l of frame.logs ?? [])
            if (!filters.q || l.message.toLowerCase().includes(filters.q.toLowerCase())) print(l);
        if (frame.type === "dropped") console.error(`(${frame.count} lines dropped: the terminal fell behind)`);
      });
      ws.addEventListener("close", () => closed());
    });
    console.error("(the stream closed; reconnecting)");
    await new Promise((w) => setTimeout(w, 2000));
  }
}
