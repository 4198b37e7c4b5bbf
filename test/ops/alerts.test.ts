/**
 * Monitoring as docs/operations.md describes it: /metrics parsed by Prometheus's own parser (`promtool check metrics`)
 * after real traffic, 5xx and database failures included; the alert rules of docs/prometheus checked and unit-tested
 * by promtool; and every metric the rules name served by /metrics, so a renamed metric cannot silence an alert.
 * promtool comes with Debian's `prometheus` package (.ci/run installs it).
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { generateSecret } from "../../src/domain/keys/secret.ts";
import { testRedisUrl } from "../support/engines.ts";
import { createKey } from "../support/keys.ts";
import { createWorld } from "../support/world.ts";

const RULES_FOLDER = new URL("../../docs/prometheus/", import.meta.url).pathname;
const RULES = join(RULES_FOLDER, "latchkey-alerts.yml");
const PROMTOOL = Bun.which("promtool");
/** Rendered only where buckets are shared (Redis, or the primary of --workers): a run without Redis has none. */
const SHARED_BUCKET_METRICS = [
  "latchkey_redis_reachable",
  "latchkey_redis_errors_total",
  "latchkey_ratelimit_fallback_decisions_total",
];

function promtool(args: string[], stdin?: string) {
  const result = Bun.spawnSync([PROMTOOL!, ...args], {
    cwd: RULES_FOLDER,
    stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  return { exitCode: result.exitCode, output: result.stdout.toString() + result.stderr.toString() };
}

interface AlertRule {
  alert: string;
  expr: string;
  labels: { severity: string };
  annotations: { summary: string };
}

const unitTestsText = await Bun.file(join(RULES_FOLDER, "latchkey-alerts.test.yml")).text();
const rules = (Bun.YAML.parse(await Bun.file(RULES).text()) as { groups: { rules: AlertRule[] }[] }).groups.flatMap(
  (group) => group.rules,
);

describe.skipIf(PROMTOOL === null)(
  `monitoring${PROMTOOL === null ? " (skipped: needs promtool, from Debian's prometheus package)" : ""}`,
  () => {
    test("regression: no alert rules shipped; those of docs/prometheus pass promtool's check and unit tests", () => {
      const checked = promtool(["check", "rules", "latchkey-alerts.yml"]);
      expect(checked).toEqual({ exitCode: 0, output: expect.stringContaining(`SUCCESS: ${rules.length} rules found`) });
      const tested = promtool(["test", "rules", "latchkey-alerts.test.yml"]);
      expect(tested).toEqual({ exitCode: 0, output: expect.stringContaining("SUCCESS") });
      // Each alert has a unit test that makes it fire.
      const unitTests = Bun.YAML.parse(unitTestsText) as {
        tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
      };
      const firing = new Set(
        unitTests.tests.flatMap((unit) =>
          unit.alert_rule_test.filter((check) => check.exp_alerts.length > 0).map((check) => check.alertname),
        ),
      );
      expect(rules.map((rule) => rule.alert).filter((name) => !firing.has(name))).toEqual([]);
      for (const rule of rules) expect(["critical", "warning"]).toContain(rule.labels.severity);
    });

    test("/metrics after real traffic, 5xx included, parses and serves every metric alerted on", async () => {
      const world = await createWorld({ transport: "http" });
      const key = await createKey(world, { scopes: ["runs:read"] });
      expect((await world.call("GET", "/v1/authz", { key: key.secret })).status).toBe(200);
      expect((await world.call("GET", "/v1/authz", { key: generateSecret("sk_live_") })).status).toBe(401);
      // The database goes away: a key not yet in memory is answered 503 and counted.
      await world.closeStorage();
      expect((await world.call("GET", "/v1/authz", { key: generateSecret("sk_live_") })).status).toBe(503);
      const scraped = await fetch(`${world.baseUrl}/metrics`);
      const text = await scraped.text();
      await world.close();
      expect(scraped.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
      expect(promtool(["check", "metrics"], text)).toEqual({ exitCode: 0, output: "" });
      expect(text).toMatch(/^latchkey_http_requests_total\{route="[^"]+",method="GET",status="503"\} 1$/m);
      expect(text).toContain("latchkey_database_errors_total 1");

      const served = new Set([...text.matchAll(/^([a-z_]+)(?:\{[^}]*\})? /gm)].map((match) => match[1]!));
      const named = new Set(rules.flatMap((rule) => [...rule.expr.matchAll(/\blatchkey_[a-z_]+/g)].map((m) => m[0])));
      const expected = [...named].filter(
        (name) => testRedisUrl() !== undefined || !SHARED_BUCKET_METRICS.includes(name),
      );
      expect(expected.filter((name) => !served.has(name))).toEqual([]);
      expect(named.size).toBeGreaterThanOrEqual(8);
    });
  },
);
