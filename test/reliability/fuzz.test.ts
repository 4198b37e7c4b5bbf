/** Bad input from the contract (see test/support/fuzz.ts); CI sends at least 20,000 requests. */
import { expect, test } from "bun:test";
import { runFuzz } from "../support/fuzz.ts";

const RUNS = Number(Bun.env.LATCHKEY_FUZZ_RUNS ?? 20_000);

test(`${RUNS} generated malformed requests: documented statuses, no 5xx, bodies match the document`, async () => {
  const report = await runFuzz({ runs: RUNS });
  console.log(
    `fuzz: ${report.requests} requests over ${report.operations} operations, seed ${report.seed}, statuses ` +
      `${JSON.stringify(report.byStatus)}`,
  );
  expect(report.requests).toBe(RUNS);
  expect(Object.keys(report.byStatus).every((status) => Number(status) < 500)).toBe(true);
}, 600_000);
