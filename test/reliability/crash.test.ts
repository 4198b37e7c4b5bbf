/**
 * Crash safety (test/support/crash.ts) on the run's engine: CI runs 50 kill -9 cycles on SQLite and 50 on PostgreSQL;
 * `bun run crash-test -- --cycles N [--database-url …]` runs more.
 */
import { afterAll, expect, test } from "bun:test";
import { useBuiltBinary } from "../support/binary.ts";
import { type CrashDatabase, runCrashCycles } from "../support/crash.ts";
import { dropPlace, freshPlace, placeUrl, testEngine } from "../support/engines.ts";

const built = useBuiltBinary("crash");
const CYCLES = Number(Bun.env.LATCHKEY_CRASH_CYCLES ?? 50);
const place = testEngine() === "postgres" ? freshPlace() : undefined;
afterAll(() => (place ? dropPlace(place) : undefined));

const TITLE = `${CYCLES} kill -9 cycles (${testEngine()}): acknowledged writes survive, revocations hold, ready in 2 s`;

test(TITLE, async () => {
  const database: CrashDatabase =
    place?.engine === "postgres" ? { postgresUrl: placeUrl(place) } : { sqlitePath: built.freshDatabasePath() };
  const report = await runCrashCycles({ binary: built.path, database, cycles: CYCLES });
  console.log(
    `crash (${testEngine()}): ${report.cycles} cycles, ${JSON.stringify(report.acknowledged)} acknowledged, ` +
      `${report.checked} checks, ready max ${report.readyMillisecondsMax.toFixed(0)} ms`,
  );
  expect(report.failures).toEqual([]);
  expect(report.acknowledged.created).toBeGreaterThan(CYCLES);
  expect(report.acknowledged.revoked + report.acknowledged.rotated + report.acknowledged.approved).toBeGreaterThan(0);
  expect(report.checked).toBeGreaterThan(0);
}, 600_000);
