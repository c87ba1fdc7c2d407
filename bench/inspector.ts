// A minimal Chrome DevTools Protocol client for the V8 inspector that `wrangler dev` serves
// (--inspector-port): CPU profiles (bench/profile.ts) and the isolate's JS heap (bench/query.ts).
/** Connects to the first target the inspector on `port` lists. */
export async function inspector(port: number) {
  const targets: { webSocketDebuggerUrl: string }[] = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  const url = targets[0]!.webSocketDebuggerUrl;
  // The inspector proxy wants an Origin it trusts (undici lets a client set headers).
  const ws = new WebSocket(url, { headers: { origin: "http://localhost" } } as any);
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve);
    ws.addEventListener("error", reject);
  });
  let next = 1;
  const waiting = new Map<number, (result: any) => void>();
  ws.addEventListener("message", (e) => {
    const msg = JSON.parse(String(e.data));
    if (msg.id && waiting.has(msg.id)) waiting.get(msg.id)!(msg.result ?? msg.error);
  });
  return {
    send(method: string, params: object = {}): Promise<any> {
      const id = next++;
      ws.send(JSON.stringify({ id, method, params }));
      return new Promise((resolve) => waiting.set(id, resolve));
    },
    close: () => ws.close(),
  };
}
