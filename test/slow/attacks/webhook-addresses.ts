// Webhook targets that only look public, over real HTTP: against a server that runs with the
// production setting (ALLOW_PRIVATE_WEBHOOKS=false), each address form below is offered as an
// alert rule's target, and each must be refused with 400 validation_failed naming the target's
// field. Public controls must be taken, so a refusal is the address's doing, not the body's.
// The fast tier checks the same forms without a server (test/unit/alert-targets.test.ts); this
// one goes through workerd's own URL parser, which is what normalises 2130706433, 0x7f.1 and
// 0177.0.0.1 to 127.0.0.1 in production.
//
// `npm start`, and so support/server.ts's startServer, always passes
// `--var ALLOW_PRIVATE_WEBHOOKS:true` to wrangler dev, and startServer takes no variables: a
// server for this drill is started another way, for example wrangler dev with
// `--var ALLOW_PRIVATE_WEBHOOKS:false` on its own state. webhookAddresses checks first.
import { expect } from "vitest";
import { api, type Server } from "../support/server.ts";

/** The address forms of issue 20 (defect 5), by kind; every one must be refused. */
export const WEBHOOK_ADDRESSES = {
  trailing_dot_names: [
    "https://localhost./",
    "https://foo.localhost./",
    "https://metadata.google.internal./computeMetadata/v1/",
    "https://printer.local./",
  ],
  ipv6_carrying_private_ipv4: [
    "https://[::7f00:1]/",
    "https://[::127.0.0.1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:0:a9fe:a9fe]/",
    "https://[64:ff9b::a9fe:a9fe]/",
    "https://[64:ff9b:1::a00:1]/",
    "https://[2002:7f00:1::]/",
    // Teredo: the client address 127.0.0.1, stored with every bit inverted.
    "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
  ],
  special_purpose_blocks: [
    "https://[fec0::1]/",
    "https://198.18.0.1/",
    "https://198.19.255.254/",
    "https://192.0.2.10/",
    "https://224.0.0.251/",
    "https://240.0.0.1/",
    "https://255.255.255.255/",
    "https://[ff02::1]/",
    "https://[2001:db8::1]/",
    "https://[100::1]/",
  ],
  ipv4_number_forms: [
    "https://2130706433/",
    "http://2130706433/",
    "https://0x7f.1/",
    "https://0177.0.0.1/",
    "https://127.1/",
    "https://0xa9fea9fe/",
  ],
  local_names: ["https://metadata/", "https://localhost/", "https://router.home.arpa/", "https://ipv4only.arpa/"],
} as const;

/** Public targets the same server must take. */
const CONTROLS = [
  "https://hooks.example.com/fleetbeat",
  "https://93.184.215.14/hook",
  "https://[2606:4700:4700::1111]/hook",
];

export interface WebhookAddressCounts {
  /** Address forms offered, and how many were refused as the contract says. */
  tried: number;
  refused: number;
  byKind: Record<keyof typeof WEBHOOK_ADDRESSES, number>;
  /** Public controls offered and taken. */
  controls: number;
}

type Answer = { status: number; json: any };

/**
 * Offers each address form as a target of a new rule, in a fresh org and project, and
 * asserts each refusal. `server` must run with ALLOW_PRIVATE_WEBHOOKS=false: the first
 * check throws when plain http is taken, which only the development setting does.
 */
export async function webhookAddresses(server: Server): Promise<WebhookAddressCounts> {
  const base = server.api;
  const org = await must(
    api(base, "POST", "/orgs", { token: server.vars.ADMIN_TOKEN, body: { name: "webhook addresses", tier: "pro" } }),
    201,
    "org",
  );
  const adminKey: string = org.api_key.key;
  const project = await must(
    api(base, "POST", "/projects", { token: adminKey, body: { name: "webhooks" } }),
    201,
    "project",
  );
  const rule = (targets: string[]) =>
    api(base, "POST", "/alert-rules", {
      token: adminKey,
      body: {
        project_id: project.project.id,
        name: "address drill",
        kind: "device_offline",
        params: { for_s: 600 },
        targets: targets.map((url) => ({ url })),
      },
    });

  const probe = await rule(["http://hooks.example.com/fleetbeat"]);
  if (probe.status === 201) {
    throw new Error(
      "the server took a plain http webhook: it runs with ALLOW_PRIVATE_WEBHOOKS=true (npm start always passes --var ALLOW_PRIVATE_WEBHOOKS:true); start it with the production setting",
    );
  }

  const counts: WebhookAddressCounts = {
    tried: 0,
    refused: 0,
    byKind: {} as WebhookAddressCounts["byKind"],
    controls: 0,
  };
  for (const [kind, urls] of Object.entries(WEBHOOK_ADDRESSES) as [
    keyof typeof WEBHOOK_ADDRESSES,
    readonly string[],
  ][]) {
    counts.byKind[kind] = 0;
    for (const url of urls) {
      counts.tried++;
      // Behind a public target, so the refusal must name the second one.
      expectRefused(await rule([CONTROLS[0]!, url]), url, "targets.1.url");
      counts.refused++;
      counts.byKind[kind]++;
    }
  }

  for (const url of CONTROLS) {
    const taken = await rule([url]);
    expect(taken.status, `${url}: ${JSON.stringify(taken.json)}`).toBe(201);
    // The rule goes again at once: nothing is left to fire at a real address.
    await must(api(base, "DELETE", `/alert-rules/${taken.json.rule.id}`, { token: adminKey }), 204, "delete rule");
    counts.controls++;
  }
  const left = await must(
    api(base, "GET", `/alert-rules?project_id=${project.project.id}`, { token: adminKey }),
    200,
    "rules",
  );
  expect(left.rules, "no refused target left a rule behind").toEqual([]);
  return counts;
}

function expectRefused(res: Answer, url: string, path: string): void {
  const what = `${url}: ${res.status} ${JSON.stringify(res.json)}`;
  expect([400, 422], what).toContain(res.status);
  expect(res.json?.error?.code, what).toBe("validation_failed");
  expect(res.json.error.details, what).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
}

async function must(p: Promise<Answer>, status: number, what: string): Promise<any> {
  const res = await p;
  if (res.status !== status) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.json)}`);
  return res.json;
}
