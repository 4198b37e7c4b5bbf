/**
 * Does verification time reveal anything about a key? Compares, in-process (no network noise), the time to verify
 *
 *   A: well-formed keys that were never issued, and
 *   B: keys sharing a real key's prefix and first 40 body characters, with the rest wrong (checksum recomputed, so
 *      they pass the format gate and are looked up like A),
 *
 * over interleaved samples, and reports medians, a bootstrap interval for the difference of medians, and the
 * two-sample Kolmogorov-Smirnov statistic. The lookup is by sha256 of the whole secret, so a shared prefix gives the
 * index no shared path; the question is whether anything else does.
 *
 *   bun run timing-oracle [--samples 100000]
 */
import { parseArgs } from "node:util";
import { authenticateKey } from "../src/auth/api-keys.ts";
import { encodeUint32Base62 } from "../src/lib/base62.ts";
import { createKey } from "../test/support/keys.ts";
import { createWorld } from "../test/support/world.ts";
import { positiveNumberFlag } from "./lib/args.ts";

const { values } = parseArgs({ options: { samples: { type: "string", default: "100000" } } });
const samples = positiveNumberFlag("samples", values.samples);
const world = await createWorld();
const real = (await createKey(world, { scopes: ["runs:read"] })).secret;
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

function randomBase62(length: number): string {
  let text = "";
  for (let index = 0; index < length; index++) text += BASE62[Math.floor(Math.random() * 62)];
  return text;
}

/**
 * Every key below is built the same way (random characters, a checksum appended, a flat copy), so the only
 * difference between the series is what they share with the real key: how a string was made must not be measured.
 */
function withValidChecksum(prefixAndBody: string): string {
  // Copied into a flat string, as a key read from a request is: a string built by concatenation is a rope whose
  // depth (43 appends against 3) would otherwise be timed too.
  return Buffer.from(prefixAndBody + encodeUint32Base62(Bun.hash.crc32(prefixAndBody), 6), "latin1").toString("latin1");
}

const PREFIX = "sk_live_";
const KEPT_LENGTH = PREFIX.length + 40;
const bodyLength = real.length - PREFIX.length - 6;

/** A well-formed key nobody issued. */
function unknownKey(): string {
  return withValidChecksum(PREFIX + randomBase62(bodyLength));
}

/** A key's prefix and first 40 body characters, then a rest that is never that key's own. */
function nearMiss(base: string): string {
  const baseRest = base.slice(KEPT_LENGTH, -6);
  let rest = baseRest;
  // One draw in 62^3 would rebuild the key itself; draw again then.
  while (rest === baseRest) rest = randomBase62(baseRest.length);
  return withValidChecksum(base.slice(0, KEPT_LENGTH) + rest);
}

// The same shape around a key nobody issued: if these time like near misses of the real key, whatever differs from
// unknown keys comes from keys sharing a prefix with one another, not from the prefix being a real key's.
const decoy = unknownKey();

const nowMilliseconds = world.clock.nowMilliseconds();
const measure = async (secret: string) => {
  const started = Bun.nanoseconds();
  const outcome = await authenticateKey(world.deps.credentials, secret, {}, nowMilliseconds);
  const elapsed = Bun.nanoseconds() - started;
  if (outcome.refusal === null) throw new Error("a generated key was valid");
  return elapsed;
};

// Each series: what it measures and how its keys are made. The control pair (unknown against unknown) shows what the
// method reports when there is nothing to find, the floor against which the other comparisons are read.
const series = {
  unknown: unknownKey,
  nearReal: () => nearMiss(real),
  nearDecoy: () => nearMiss(decoy),
  controlFirst: unknownKey,
  controlSecond: unknownKey,
};
const timings = Object.fromEntries(Object.keys(series).map((name) => [name, [] as number[]])) as Record<
  keyof typeof series,
  number[]
>;
const entries = Object.entries(series) as [keyof typeof series, () => string][];
// Warm every path first, then interleave in a fresh random order each round, so drift on a shared machine and
// position in the round affect every series alike.
for (let index = 0; index < 20_000; index++) for (const [, make] of entries) await measure(make());
for (let index = 0; index < samples; index++) {
  for (const [name, make] of [...entries].sort(() => Math.random() - 0.5)) timings[name].push(await measure(make()));
}

const sorted = (values: number[]) => [...values].sort((left, right) => left - right);
const median = (values: number[]) => values[Math.floor(values.length / 2)]!;

function kolmogorovSmirnov(left: number[], right: number[]): number {
  let i = 0;
  let j = 0;
  let statistic = 0;
  while (i < left.length && j < right.length) {
    if (left[i]! <= right[j]!) i++;
    else j++;
    statistic = Math.max(statistic, Math.abs(i / left.length - j / right.length));
  }
  return statistic;
}

/** 95% bootstrap interval of the difference of medians (left minus right), from 200 resamples of 4,001. */
function bootstrapMedianDifference(left: number[], right: number[]): [number, number] {
  const differences: number[] = [];
  const resample = (values: number[]) =>
    sorted(Array.from({ length: 4001 }, () => values[Math.floor(Math.random() * values.length)]!));
  for (let round = 0; round < 200; round++) differences.push(median(resample(left)) - median(resample(right)));
  differences.sort((x, y) => x - y);
  return [differences[5]!, differences[194]!];
}

const sortedTimings = Object.fromEntries(
  Object.entries(timings).map(([name, values]) => [name, sorted(values)]),
) as typeof timings;
// The critical value of the two-sample KS test at alpha = 0.01 (every series has the same size).
const critical = 1.628 * Math.sqrt(2 / samples);
const controlKs = kolmogorovSmirnov(sortedTimings.controlFirst, sortedTimings.controlSecond);

function compare(label: string, left: keyof typeof series, right: keyof typeof series): void {
  const ks = kolmogorovSmirnov(sortedTimings[left], sortedTimings[right]);
  const [low, high] = bootstrapMedianDifference(timings[left], timings[right]);
  const medianDifference = median(sortedTimings[left]) - median(sortedTimings[right]);
  let verdict = `differ beyond the control, by ${medianDifference} ns at the median`;
  if (ks <= 2 * Math.max(controlKs, critical))
    verdict = "no difference beyond what the control shows (measurement drift)";
  if (ks < critical) verdict = "not distinguishable";
  console.log(`${label}: D = ${ks.toFixed(4)}, difference of medians ${low} to ${high} ns (95% bootstrap): ${verdict}`);
}

const describe = (label: string, name: keyof typeof series) => {
  const values = sortedTimings[name];
  console.log(`${label.padEnd(50)} median ${median(values)} ns, p90 ${values[Math.floor(values.length * 0.9)]} ns`);
};
console.log(`latchkey timing oracle: ${samples.toLocaleString("en-US")} samples per series, in-process verification`);
describe("unknown key", "unknown");
describe("real key's prefix, wrong rest", "nearReal");
describe("decoy's prefix (a key nobody issued), wrong rest", "nearDecoy");
console.log(
  `KS critical value at alpha 0.01: ${critical.toFixed(4)}; control (unknown against unknown): D = ` +
    `${controlKs.toFixed(4)}`,
);
compare("unknown vs real prefix", "unknown", "nearReal");
compare("decoy prefix vs real prefix", "nearDecoy", "nearReal");
await world.close();
