/** A short soak in CI (test/support/soak.ts); `bun run soak -- --minutes N` runs longer ones. */
import { expect, test } from "bun:test";
import { useBuiltBinary } from "../support/binary.ts";
import { boundedness, runSoak } from "../support/soak.ts";

const built = useBuiltBinary("soak");
const SECONDS = Number(Bun.env.LATCHKEY_SOAK_SECONDS ?? 20);

test(`a ${SECONDS}-second soak of mixed traffic: no unexpected answers, memory and WAL bounded`, async () => {
  const report = await runSoak({
    binary: built.path,
    databasePath: built.freshDatabasePath(),
    seconds: SECONDS,
    sampleEverySeconds: 2,
  });
  const bounds = boundedness(report);
  console.log(
    `soak: ${report.requests} requests (${report.requestsPerSecond.toFixed(0)}/s), p99 ` +
      `${report.p99Milliseconds.toFixed(1)} ms, ` +
      `${report.rateLimited} 429s, RSS ${report.samples.map((sample) => sample.rssMegabytes.toFixed(0)).join(" → ")} ` +
      `MB`,
  );
  expect(report.unexpected).toEqual([]);
  expect(report.rateLimited).toBeGreaterThan(0);
  expect(Object.keys(report.byOperation).length).toBeGreaterThanOrEqual(12);
  expect(bounds).toEqual({ memoryBounded: true, walBounded: true });
}, 180_000);
