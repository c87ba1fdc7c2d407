// A [[ratelimits]] binding's limit and period live in wrangler.toml, and the tier table says
// what they are (GET /orgs/:id shows them, the docs quote them): the two must agree, and every
// binding must be one the code uses.
import path from "node:path";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { IP_RATE_LIMIT, type RateLimitRule } from "../../src/contract/rate-limits";
import { TIERS } from "../../src/contract/tiers";

const config = unstable_readConfig({ config: path.join(import.meta.dirname, "../../wrangler.toml") });
interface Declared {
  name: string;
  namespace_id: string;
  simple: { limit: number; period: number };
}
const bindings = config.ratelimits as Declared[];
const declared = new Map(bindings.map((r) => [r.name, r]));

const rules: [string, RateLimitRule][] = [
  ...Object.entries(TIERS).flatMap(([tier, plan]) =>
    Object.entries(plan.rate_limits).map(([kind, rule]): [string, RateLimitRule] => [`${tier} ${kind}`, rule]),
  ),
  ["client IP", IP_RATE_LIMIT],
];

describe("rate limit bindings", () => {
  it.each(rules)("%s: the tier table's rule is the binding wrangler.toml declares", (_, rule) => {
    const binding = declared.get(rule.binding);
    expect(binding, `wrangler.toml declares no [[ratelimits]] named ${rule.binding}`).toBeDefined();
    expect(binding!.simple).toEqual({ limit: rule.limit, period: rule.period });
  });

  it("each class and tier has a binding of its own, each binding is used, and their namespaces differ", () => {
    const used = rules.map(([, r]) => r.binding);
    expect(new Set(used).size).toBe(used.length);
    expect([...declared.keys()].sort()).toEqual([...used].sort());
    const namespaces = bindings.map((r) => r.namespace_id);
    expect(new Set(namespaces).size).toBe(namespaces.length);
  });
});
