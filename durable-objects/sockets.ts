// Closing hibernating WebSockets, the same way in both objects: a socket may already be
// closing when we close it, and that is not an error.
export function closeQuietly(ws: WebSocket, code: number, reason?: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // already closing
  }
}

/** The peer closed: answer its close (1005, "no code", cannot be sent back, so 1000). */
export const answerClose = (ws: WebSocket, code: number): void => closeQuietly(ws, code === 1005 ? 1000 : code);
