/**
 * The contract fuzzer (test/support/fuzz.ts) with any number of requests, or the stateful fuzzer
 * (test/support/stateful-fuzz.ts) with any number of sequences.
 *
 *   bun run fuzz -- --runs 200000 [--seed 42]
 *   bun run fuzz -- --stateful --runs 5000 [--max-commands 50] [--seed 42]
 */
import { parseArgs } from "node:util";
import { runFuzz } from "../test/support/fuzz.ts";
import { runStatefulFuzz } from "../test/support/stateful-fuzz.ts";
import { integerFlag, positiveNumberFlag } from "./lib/args.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "20000" },
    seed: { type: "string" },
    path: { type: "string" },
    stateful: { type: "boolean", default: false },
    "max-commands": { type: "string", default: "50" },
  },
});
const started = performance.now();
try {
  if (values.stateful) {
    const report = await runStatefulFuzz({
      runs: positiveNumberFlag("runs", values.runs),
      maxCommands: positiveNumberFlag("max-commands", values["max-commands"]),
      seed: values.seed === undefined ? undefined : integerFlag("seed", values.seed),
      path: values.path,
    });
    console.log(
      `latchkey stateful fuzz: ${report.sequences} sequences, ${report.requests} requests in ` +
        `${((performance.now() - started) / 1000).toFixed(0)} s, seed ${report.seed}`,
    );
    console.log("every answer documented and valid, no 5xx, the server agreeing with the model after every step");
    process.exit(0);
  }
  const report = await runFuzz({
    runs: positiveNumberFlag("runs", values.runs),
    seed: values.seed === undefined ? undefined : integerFlag("seed", values.seed),
    path: values.path,
  });
  console.log(
    `latchkey fuzz: ${report.requests} requests over ${report.operations} operations in ` +
      `${((performance.now() - started) / 1000).toFixed(0)} s, seed ${report.seed}`,
  );
  console.log(`answers by status: ${JSON.stringify(report.byStatus)}`);
  console.log("every answer documented, no 5xx, every body matching the document's schema, no internal detail");
} catch (error) {
  // fast-check reports the case (seed and path replay it with --seed and --path) and keeps the failure as its cause.
  console.error(error instanceof Error ? error.message : error);
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause instanceof Error) console.error(`cause: ${cause.message}`);
  process.exitCode = 1;
}
