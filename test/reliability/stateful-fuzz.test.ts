/**
 * Model-based sequences (see test/support/stateful-fuzz.ts): values one route accepts flow into every other route's
 * answers, and after every step the server agrees with the model. CI runs a bounded number of sequences; more with
 * `bun run fuzz -- --stateful --runs N`.
 */
import { expect, test } from "bun:test";
import { runStatefulFuzz } from "../support/stateful-fuzz.ts";

const RUNS = Number(Bun.env.LATCHKEY_STATEFUL_FUZZ_RUNS ?? 100);

test(`${RUNS} model-based sequences: no 5xx, every answer documented and valid, agreeing with the model`, async () => {
  const report = await runStatefulFuzz({ runs: RUNS });
  console.log(`stateful fuzz: ${report.sequences} sequences, ${report.requests} requests, seed ${report.seed}`);
  expect(report.sequences).toBeGreaterThanOrEqual(RUNS);
  expect(report.requests).toBeGreaterThan(RUNS);
}, 600_000);
