// Opening the live tail (GET /logs/stream): the project's object burns the ticket and picks the
// viewer group, and the group accepts the WebSocket. The project's object never holds the socket.
import { ApiError } from "../contract/errors";
import { viewerRequest } from "../contract/tail-admission";
import type { TailFilter } from "../contract/tail-filter";
import { MAX_VIEWERS } from "../contract/tail-plan";
import { projectHub } from "../stubs/project-hub";
import { tailGroup } from "../stubs/tail-group";

/**
 * The viewer's upgrade request, answered by its group; 401 for a ticket the project does not take, 429 past
 * its viewers.
 */
export async function openLiveTail(
  env: Env,
  request: Request,
  ticket: { projectId: string; secret: string },
  filter: TailFilter,
  window?: number,
): Promise<Response> {
  const admitted = await projectHub(env, ticket.projectId).admitViewer(ticket.secret, filter);
  if (!admitted.ok) {
    if (admitted.status === 429) throw new ApiError("rate_limited", `at most ${MAX_VIEWERS} live viewers per project`);
    throw new ApiError("unauthorized", "ticket is unknown, used or expired");
  }
  return tailGroup(env, admitted.group).fetch(
    viewerRequest(request, {
      group: admitted.group,
      filter,
      orgId: admitted.orgId,
      keyId: admitted.keyId,
      ...(window ? { window } : {}),
    }),
  );
}
