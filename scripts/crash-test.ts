/**
 * kill -9 at random moments under concurrent writes, then checks on restart (see test/support/crash.ts).
 *
 *   bun run crash-test -- --cycles 1000 [--database-url postgres://…/db?search_path=crash]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runCrashCycles } from "../test/support/crash.ts";
import { buildBinary, makeTempDir } from "../test/support/run-binary.ts";
import { positiveNumberFlag } from "./lib/args.ts";

const { values } = parseArgs({
  options: { cycles: { type: "string", default: "50" }, "database-url": { type: "string" } },
});
const workspace = makeTempDir("crash");
try {
  const binary = buildBinary(join(workspace.path, "latchkey"));
  const started = performance.now();
  const report = await runCrashCycles({
    binary,
    database: values["database-url"]
      ? { postgresUrl: values["database-url"] }
      : { sqlitePath: join(workspace.path, "crash.db") },
    cycles: positiveNumberFlag("cycles", values.cycles),
    onCycle: (cycle, progress) => {
      if ((cycle + 1) % 50 === 0) console.log(`${cycle + 1} cycles, ${progress.failures.length} failures`);
    },
  });
  console.log(
    `\nlatchkey crash test (${values["database-url"] ? "PostgreSQL" : "SQLite"}): ${report.cycles} kill -9 cycles ` +
      `in ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  console.log(
    `acknowledged writes: ${report.acknowledged.created} creations, ${report.acknowledged.revoked} revocations, ` +
      `${report.acknowledged.rotated} rotations, ${report.acknowledged.approved} CLI approvals; ${report.checked} ` +
      `checks after restarts`,
  );
  console.log(
    `ready again: median ${report.readyMillisecondsMedian.toFixed(0)} ms, max ` +
      `${report.readyMillisecondsMax.toFixed(0)} ms (limit 2000 ms)`,
  );
  console.log(report.failures.length === 0 ? "failures: none" : `failures:\n${report.failures.join("\n")}`);
  process.exitCode = report.failures.length === 0 ? 0 : 1;
} finally {
  workspace.remove();
}
