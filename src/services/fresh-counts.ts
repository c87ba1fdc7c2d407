// Before a stats read, what is still on its way to the projects is sent at once: the Worker's
// pending API records, and the counts of devices that delivered within the last delivery
// interval (a device, or a log shard, hands its counts on at most once per DELIVERY.everyMs, so
// the requests since its last delivery may still be in its own state). A read then includes every request
// answered before it began.
//
// Only a project's few recent devices are asked (at most RECENT_MAX); a project busier than
// that reads counts up to one delivery interval old, as its devices deliver them.

import { isShard } from "../contract/log-shards";
import { DELIVERY } from "../contract/usage";
import { FAN_OUT, mapLimit } from "../lib/concurrency";
import { deviceHub } from "../stubs/device-hub";
import { shardByName } from "../stubs/log-shard";
import { projectHub } from "../stubs/project-hub";
import { flushApiCalls } from "./api-analytics";

/** A device that delivered this recently may still owe counts: one interval's gap, and its alarm's slack. */
const RECENT_MS = () => DELIVERY.everyMs + 2_500;
const RECENT_MAX = 50;

export async function freshCounts(env: Env, projectIds: string[]): Promise<void> {
  await flushApiCalls(env);
  await mapLimit(projectIds, FAN_OUT, async (id) => {
    const recent = await projectHub(env, id).recentDevices(RECENT_MS(), RECENT_MAX);
    // A log shard delivers for many devices (src/contract/log-shards.ts); it is asked the same way.
    await mapLimit(recent, FAN_OUT, (sender) =>
      isShard(sender) ? shardByName(env, sender).flush() : deviceHub(env, sender).sendCounts(),
    );
  });
}
