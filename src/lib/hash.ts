/** A stable spread of ids over `n` slots: FNV-1a of the id, modulo `n`. */
export function slotOf(id: string, n: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) % n;
}
