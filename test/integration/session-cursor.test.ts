import { expect, it } from "vitest";
import { call, tenant } from "./helpers";

it("pages through sessions whose ids are in any script", async () => {
  const t = await tenant();
  const ids = ["セッション-1", "прогон-2", "run 🤖 3"];
  for (const [i, session_id] of ids.entries()) {
    const res = await call("POST", "/sessions", { token: t.deviceKey, body: { session_id, started_at: new Date(Date.now() - i * 1000).toISOString() } });
    expect(res.status).toBe(201);
  }
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const res: Awaited<ReturnType<typeof call>> = await call("GET", `/sessions?project_id=${t.projectId}&limit=1${cursor ? `&cursor=${cursor}` : ""}`, { token: t.viewerKey });
    expect(res.status).toBe(200);
    seen.push(...res.json.sessions.map((s: { session_id: string }) => s.session_id));
    cursor = res.json.next_cursor;
  } while (cursor);
  expect(seen).toEqual(ids);
});
