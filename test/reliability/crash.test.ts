/** Crash safety (scripts/lib/crash.ts): CI runs 50 kill -9 cycles; `bun run crash-test -- --cycles N` runs more. */
import { expect, test } from "bun:test";
import { runCrashCycles } from "../../scripts/lib/crash.ts";
import { useBuiltBinary } from "../support/binary.ts";

const built = useBuiltBinary("crash");
const CYCLES = Number(Bun.env.LATCHKEY_CRASH_CYCLES ?? 50);

test(`${CYCLES} kill -9 cycles: acknowledged writes survive, revocations hold, integrity ok, ready in 2s`, async () => {
  const report = await runCrashCycles({ binary: built.path, databasePath: built.freshDatabasePath(), cycles: CYCLES });
  console.log(
    `crash: ${report.cycles} cycles, ${JSON.stringify(report.acknowledged)} acknowledged, ${report.checked} checks, ` +
      `ready max ${report.readyMillisecondsMax.toFixed(0)} ms`,
  );
  expect(report.failures).toEqual([]);
  expect(report.acknowledged.created).toBeGreaterThan(CYCLES);
  expect(report.acknowledged.revoked + report.acknowledged.rotated + report.acknowledged.approved).toBeGreaterThan(0);
  expect(report.checked).toBeGreaterThan(0);
}, 600_000);
