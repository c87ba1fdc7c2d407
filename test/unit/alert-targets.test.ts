// Where alert webhooks may go: public https only, except in local development.
import { describe, expect, it } from "vitest";
import { targetProblem } from "../../src/contract/alerts";

describe("alert webhook targets", () => {
  it("take public https URLs in production", () => {
    for (const url of ["https://hooks.slack.com/services/T0/B0/x", "https://example.com:8443/fleet?x=1", "https://8.8.8.8/hook"]) expect(targetProblem(url, false)).toBeNull();
  });

  it("refuse plain http, localhost, private and link-local addresses, and credentials in production", () => {
    for (const url of [
      "http://example.com/hook",
      "https://localhost/hook",
      "https://api.localhost/hook",
      "https://printer.local/hook",
      "https://metadata.internal/hook",
      "https://127.0.0.1/hook",
      "https://10.1.2.3/hook",
      "https://172.16.0.1/hook",
      "https://172.31.255.255/hook",
      "https://192.168.1.10/hook",
      "https://169.254.169.254/latest/meta-data",
      "https://100.64.0.1/hook",
      "https://0.0.0.0/hook",
      "https://[::1]/hook",
      "https://[fd00::1]/hook",
      "https://[fe80::1]/hook",
      "https://[::ffff:10.0.0.1]/hook",
      "https://user:pass@example.com/hook",
      "ftp://example.com/hook",
    ])
      expect(targetProblem(url, false), url).not.toBeNull();
    // 172.32/12 is public.
    expect(targetProblem("https://172.32.0.1/hook", false)).toBeNull();
  });

  it("take http and local addresses in local development", () => {
    expect(targetProblem("http://127.0.0.1:9999/hook", true)).toBeNull();
    expect(targetProblem("http://localhost/hook", true)).toBeNull();
    expect(targetProblem("ftp://localhost/hook", true)).not.toBeNull();
  });
});
