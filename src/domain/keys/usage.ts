/**
 * A key's verifications by outcome (GET /v1/keys/:id/usage): per UTC hour or day, what was VALID and what each code
 * refused, from the database and from what this process has counted and not written yet (usage is written in
 * batches, off the request path). Only periods with a count are listed, oldest first.
 */
import type { KeyOutcomeRow } from "../../db/schema.ts";
import type { Caller } from "./caller.ts";
import { listKeyOutcomes, pruneKeyOutcomes } from "./outcomes-store.ts";
import type { KeysDeps } from "./service.ts";
import * as store from "./store.ts";
import { visibleKeyOrThrow } from "./visibility.ts";

export const DAY_MILLISECONDS = 86_400_000;
const HOUR_MILLISECONDS = 3_600_000;

export type Granularity = "hour" | "day";

export interface UsagePeriod {
  startMs: number;
  outcomes: Record<string, number>;
}

/** Counts for the periods that start in [fromMs, untilMs), both at period boundaries of the granularity. */
export async function keyUsage(
  deps: KeysDeps,
  caller: Caller,
  keyId: string,
  range: { granularity: Granularity; fromMs: number; untilMs: number },
  pending: readonly KeyOutcomeRow[],
): Promise<UsagePeriod[]> {
  visibleKeyOrThrow(await store.findKey(deps.storage.reader, keyId), caller);
  const stored = await listKeyOutcomes(deps.storage.reader, keyId, range.fromMs, range.untilMs);
  const unwritten = pending.filter((row) => row.hourStartMs >= range.fromMs && row.hourStartMs < range.untilMs);
  const periods = new Map<number, UsagePeriod>();
  for (const row of [...stored, ...unwritten]) {
    const startMs = periodStartOf(range.granularity, row.hourStartMs);
    let period = periods.get(startMs);
    if (period === undefined) {
      period = { startMs, outcomes: {} };
      periods.set(startMs, period);
    }
    period.outcomes[row.outcome] = (period.outcomes[row.outcome] ?? 0) + row.count;
  }
  return [...periods.values()].sort((first, second) => first.startMs - second.startMs);
}

/** Drops the counts of hours that started before `beforeMs` (the retention, LATCHKEY_USAGE_RETENTION_DAYS). */
export async function pruneKeyUsage(deps: Pick<KeysDeps, "storage">, beforeMs: number): Promise<number> {
  return deps.storage.writeTransaction((tx) => pruneKeyOutcomes(tx, beforeMs));
}

export function periodLengthOf(granularity: Granularity): number {
  return granularity === "hour" ? HOUR_MILLISECONDS : DAY_MILLISECONDS;
}

/** The start of the period of `granularity` that holds `atMs` (UTC). */
export function periodStartOf(granularity: Granularity, atMs: number): number {
  return atMs - (atMs % periodLengthOf(granularity));
}
