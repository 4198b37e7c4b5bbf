/**
 * Key usage (`last_used_at`, `usage_count`, and the verifications counted by outcome per UTC hour) is gathered in
 * memory and written in one transaction per flush (every minute and at shutdown), so verifying a key never writes to
 * disk on the request path. A failed flush keeps what it held for the next one.
 */
import type { KeyOutcomeRow } from "../db/schema.ts";
import type { Storage } from "../db/storage.ts";
import { addKeyOutcomes } from "../domain/keys/outcomes-store.ts";
import { periodStartOf } from "../domain/keys/usage.ts";
import { addKeyUsage } from "./credential-store.ts";

interface PendingUsage {
  lastUsedAtMs: number;
  requests: number;
}

/** Pending keys that trigger an early flush, so memory stays bounded when very many keys are used in a minute. */
const USAGE_BATCH_KEYS_MAX = 10_000;

export class UsageRecorder {
  private pending = new Map<string, PendingUsage>();
  /** Counts by key, hour and outcome, keyed `keyId hourStartMs outcome`. */
  private outcomes = new Map<string, KeyOutcomeRow>();

  /** `onBatchFull` is told when the batch reaches its bound; it flushes soon after, off the request path. */
  constructor(private readonly onBatchFull: () => void = () => {}) {}

  /** An admitted request of the key (or of a token minted from it). */
  record(keyId: string, nowMilliseconds: number): void {
    const entry = this.pending.get(keyId);
    if (entry) {
      entry.requests++;
      if (nowMilliseconds > entry.lastUsedAtMs) entry.lastUsedAtMs = nowMilliseconds;
    } else {
      this.pending.set(keyId, { lastUsedAtMs: nowMilliseconds, requests: 1 });
      if (this.pending.size === USAGE_BATCH_KEYS_MAX) this.onBatchFull();
    }
  }

  /** A decision on a request of the key: VALID, or the code that refused it. */
  recordOutcome(keyId: string, outcome: string, nowMilliseconds: number): void {
    const hourStartMs = periodStartOf("hour", nowMilliseconds);
    const slot = `${keyId} ${hourStartMs} ${outcome}`;
    const entry = this.outcomes.get(slot);
    if (entry) entry.count++;
    else {
      this.outcomes.set(slot, { keyId, hourStartMs, outcome, count: 1 });
      if (this.outcomes.size === USAGE_BATCH_KEYS_MAX) this.onBatchFull();
    }
  }

  /** What this process has counted for the key and not written yet. */
  pendingOutcomesOf(keyId: string): KeyOutcomeRow[] {
    return [...this.outcomes.values()].filter((row) => row.keyId === keyId).map((row) => ({ ...row }));
  }

  get pendingKeys(): number {
    return this.pending.size;
  }

  /** Writes everything gathered so far; on failure the usage is kept for the next flush. Returns keys written. */
  async flush(storage: Storage): Promise<number> {
    if (this.pending.size === 0 && this.outcomes.size === 0) return 0;
    const batch = this.pending;
    const outcomes = this.outcomes;
    this.pending = new Map();
    this.outcomes = new Map();
    try {
      await storage.writeTransaction(async (tx) => {
        for (const [keyId, usage] of batch) await addKeyUsage(tx, keyId, usage.lastUsedAtMs, usage.requests);
        await addKeyOutcomes(tx, [...outcomes.values()]);
      });
      return batch.size;
    } catch (error) {
      for (const [keyId, usage] of batch) {
        const newer = this.pending.get(keyId);
        this.pending.set(keyId, {
          lastUsedAtMs: Math.max(usage.lastUsedAtMs, newer?.lastUsedAtMs ?? 0),
          requests: usage.requests + (newer?.requests ?? 0),
        });
      }
      for (const [slot, row] of outcomes) {
        const newer = this.outcomes.get(slot);
        this.outcomes.set(slot, { ...row, count: row.count + (newer?.count ?? 0) });
      }
      throw error;
    }
  }
}
