/**
 * The timing-oracle script's figures are recorded in docs/reliability.md from large runs; this keeps the script itself
 * working (it builds keys, measures every series and reports each comparison), at a size CI can afford.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";

test("the timing-oracle script runs and reports both comparisons against the control", () => {
  const run = Bun.spawnSync(
    [process.execPath, join(import.meta.dir, "../../scripts/timing-oracle.ts"), "--samples", "3000"],
    {
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const output = run.stdout.toString();
  expect(run.stderr.toString()).toBe("");
  expect(run.exitCode).toBe(0);
  expect(output).toContain("3,000 samples per series");
  expect(output).toMatch(/control \(unknown against unknown\): D = 0\.\d{4}/);
  expect(output).toMatch(/unknown vs real prefix: D = 0\.\d{4}, difference of medians -?\d+ to -?\d+ ns/);
  expect(output).toMatch(/decoy prefix vs real prefix: D = 0\.\d{4}, difference of medians -?\d+ to -?\d+ ns/);
}, 60_000);

test("the timing-oracle script refuses a sample count that is not a positive integer", () => {
  const run = Bun.spawnSync(
    [process.execPath, join(import.meta.dir, "../../scripts/timing-oracle.ts"), "--samples", "1e"],
    { stderr: "pipe" },
  );
  expect(run.exitCode).toBe(2);
  expect(run.stderr.toString()).toContain('--samples must be a positive integer, got "1e"');
});
