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
import { encodeUint32Base62 } from "../src/lib/base62.ts";
import { createKey } from "../test/support/keys.ts";
import { createWorld } from "../test/support/world.ts";
import { generateSecret } from "../src/keys/secret.ts";
import { authenticateKey } from "../src/verify/service.ts";
import { positiveNumberFlag } from "./lib/args.ts";

const { values } = parseArgs({ options: { samples: { type: "string", default: "100000" } } });
const samples = positiveNumberFlag("samples", values.samples);
const world = await createWorld();
const real = (await createKey(world, { scopes: ["runs:read"] })).secret;
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

function withValidChecksum(prefixAndBody: string): string {
  return prefixAndBody + encodeUint32Base62(Bun.hash.crc32(prefixAndBody), 6);
}

function nearMiss(): string {
  const kept = real.slice(0, 8 + 40);
  let rest = "";
  for (let index = 0; index < 3; index++) rest += BASE62[Math.floor(Math.random() * 62)];
  return withValidChecksum(kept + rest);
}

const nowMilliseconds = world.clock.nowMilliseconds();
const measure = (secret: string) => {
  const started = Bun.nanoseconds();
  const outcome = authenticateKey(world.deps.credentials, secret, {}, nowMilliseconds);
  const elapsed = Bun.nanoseconds() - started;
  if (outcome.ok) throw new Error("a generated key was valid");
  return elapsed;
};

// Warm both paths first, then interleave so drift on a shared machine affects both alike.
for (let index = 0; index < 20_000; index++) {
  measure(generateSecret("sk_live_"));
  measure(nearMiss());
}
// A control pair (unknown against unknown) runs interleaved with the real pair: whatever the control shows is what
// the method reports when there is nothing to find, the floor against which the real comparison is read.
const unknown: number[] = [];
const sharedPrefix: number[] = [];
const controlFirst: number[] = [];
const controlSecond: number[] = [];
const series: [number[], () => string][] = [
  [unknown, () => generateSecret("sk_live_")],
  [sharedPrefix, nearMiss],
  [controlFirst, () => generateSecret("sk_live_")],
  [controlSecond, () => generateSecret("sk_live_")],
];
for (let index = 0; index < samples; index++) {
  // A fresh random order each round, so no series always runs first.
  for (const [into, make] of [...series].sort(() => Math.random() - 0.5)) into.push(measure(make()));
}

const sorted = (values: number[]) => [...values].sort((left, right) => left - right);
const median = (values: number[]) => values[Math.floor(values.length / 2)]!;
const a = sorted(unknown);
const b = sorted(sharedPrefix);

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

const ks = kolmogorovSmirnov(a, b);
const controlKs = kolmogorovSmirnov(sorted(controlFirst), sorted(controlSecond));
// The critical value of the two-sample KS test at alpha = 0.01.
const critical = 1.628 * Math.sqrt((a.length + b.length) / (a.length * b.length));
const bootstrap: number[] = [];
for (let round = 0; round < 200; round++) {
  const resample = (values: number[]) => sorted(Array.from({ length: 4001 }, () => values[Math.floor(Math.random() * values.length)]!));
  bootstrap.push(median(resample(unknown)) - median(resample(sharedPrefix)));
}
bootstrap.sort((left, right) => left - right);
console.log(`latchkey timing oracle: ${samples.toLocaleString("en-US")} samples each, in-process verification`);
console.log(`unknown key:        median ${median(a)} ns, p90 ${a[Math.floor(a.length * 0.9)]} ns`);
console.log(`known prefix, wrong: median ${median(b)} ns, p90 ${b[Math.floor(b.length * 0.9)]} ns`);
console.log(`difference of medians (95% bootstrap interval): ${bootstrap[5]} to ${bootstrap[194]} ns`);
console.log(`Kolmogorov-Smirnov D = ${ks.toFixed(4)} (critical value at alpha 0.01: ${critical.toFixed(4)})`);
console.log(`control, unknown against unknown: D = ${controlKs.toFixed(4)}, medians ${median(sorted(controlFirst))} and ${median(sorted(controlSecond))} ns`);
const verdict =
  ks < critical
    ? "the two distributions are not distinguishable"
    : ks <= 2 * Math.max(controlKs, critical)
      ? "no difference beyond what the control shows between two sets of identical requests (measurement drift)"
      : `the distributions differ beyond the control, by ${median(a) - median(b)} ns at the median`;
console.log(`verdict: ${verdict}`);
await world.close();
