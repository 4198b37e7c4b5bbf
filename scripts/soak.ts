/**
 * Mixed traffic for a while against the binary (test/support/soak.ts).
 *
 *   bun run soak -- --minutes 10 [--clients 16]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { buildBinary, makeTempDir } from "../test/support/run-binary.ts";
import { boundedness, runSoak } from "../test/support/soak.ts";
import { positiveNumberFlag } from "./lib/args.ts";

const { values } = parseArgs({
  options: { minutes: { type: "string", default: "1" }, clients: { type: "string", default: "16" } },
});
const workspace = makeTempDir("soak");
try {
  const binary = buildBinary(join(workspace.path, "latchkey"));
  const minutes = positiveNumberFlag("minutes", values.minutes, { integer: false });
  const report = await runSoak({
    binary,
    databasePath: join(workspace.path, "soak.db"),
    seconds: minutes * 60,
    clients: positiveNumberFlag("clients", values.clients),
    sampleEverySeconds: minutes >= 10 ? 30 : 5,
  });
  const bounds = boundedness(report);
  console.log(`\nlatchkey soak: ${minutes} min, ${values.clients} clients, mixed traffic`);
  console.log(
    `${report.requests.toLocaleString("en-US")} requests, ${report.requestsPerSecond.toFixed(0)}/s, p50 ` +
      `${report.p50Milliseconds.toFixed(2)} ms, p99 ${report.p99Milliseconds.toFixed(2)} ms`,
  );
  console.log(`429s: ${report.rateLimited}; unexpected answers (anything else not 2xx): ${report.unexpected.length}`);
  console.log(`by operation: ${JSON.stringify(report.byOperation)}`);
  console.log("| at (s) | requests | RSS (MB) | WAL (MB) |\n|---:|---:|---:|---:|");
  for (const sample of report.samples) {
    console.log(
      `| ${sample.atSeconds} | ${sample.requests} | ${sample.rssMegabytes.toFixed(0)} | ` +
        `${sample.walMegabytes.toFixed(1)} |`,
    );
  }
  console.log(`memory bounded: ${bounds.memoryBounded}; WAL bounded: ${bounds.walBounded}`);
  for (const line of report.unexpected.slice(0, 20)) console.log(`  ${line}`);
  process.exitCode = report.unexpected.length === 0 && bounds.memoryBounded && bounds.walBounded ? 0 : 1;
} finally {
  workspace.remove();
}
