// A live-tail ticket is `<project id>.<secret>`: the stream request finds the project's object
// from it, and that object checks (and burns) the secret's hash.
import { newSecret } from "../lib/crypto";
import { projectId } from "./common";

export function newTailTicket(project: string): { ticket: string; secret: string } {
  const secret = newSecret("fbt");
  return { ticket: `${project}.${secret}`, secret };
}

export function parseTailTicket(ticket: string): { projectId: string; secret: string } | null {
  const dot = ticket.indexOf(".");
  const project = projectId.safeParse(ticket.slice(0, Math.max(0, dot)));
  return project.success ? { projectId: project.data, secret: ticket.slice(dot + 1) } : null;
}
