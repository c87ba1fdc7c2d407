// A live-tail ticket is `<project id>.fbt_<secret>`: the stream request finds the project's
// object from it, and that object checks (and burns) the secret's hash. The secret carries a
// tag under the server's signing key, so a made-up ticket is refused before any object is
// addressed.
import { isSignedFor, signedSecret } from "../lib/crypto";
import { projectId } from "./common";

export async function newTailTicket(project: string, signingKey: string): Promise<{ ticket: string; secret: string }> {
  const secret = `fbt_${await signedSecret(signingKey, `tail:${project}`)}`;
  return { ticket: `${project}.${secret}`, secret };
}

export async function verifyTailTicket(
  ticket: string,
  signingKey: string,
): Promise<{ projectId: string; secret: string } | null> {
  const dot = ticket.indexOf(".");
  const project = projectId.safeParse(ticket.slice(0, Math.max(0, dot)));
  const secret = ticket.slice(dot + 1);
  if (
    !project.success ||
    !secret.startsWith("fbt_") ||
    !(await isSignedFor(signingKey, `tail:${project.data}`, secret.slice(4)))
  )
    return null;
  return { projectId: project.data, secret };
}
