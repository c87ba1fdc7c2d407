import { expect, it } from "vitest";
import { type Answer, call, tenant } from "./helpers";

type SessionPage = { sessions: { session_id: string }[]; next_cursor: string | null };

it("pages through sessions whose ids are in any script", async () => {
  const t = await tenant();
  const ids = ["セッション-1", "прогон-2", "run 🤖 3"];
  for (const [i, session_id] of ids.entries()) {
    const res = await call("POST", "/sessions", {
      token: t.deviceKey,
      body: { session_id, started_at: new Date(Date.now() - i * 1000).toISOString() },
    });
    expect(res.status).toBe(201);
  }
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const res: Answer<SessionPage> = await call<SessionPage>(
      "GET",
      `/sessions?project_id=${t.projectId}&limit=1${cursor ? `&cursor=${cursor}` : ""}`,
      { token: t.viewerKey },
    );
    expect(res.status).toBe(200);
    seen.push(...res.json.sessions.map((s) => s.session_id));
    cursor = res.json.next_cursor;
  } while (cursor);
  expect(seen).toEqual(ids);
});
