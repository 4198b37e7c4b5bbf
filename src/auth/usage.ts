/**
 * Key usage (`last_used_at`, `usage_count`) is gathered in memory and written in one transaction per flush (every
 * minute and at shutdown), so verifying a key never writes to disk on the request path.
 */
import type { Storage } from "../db/storage.ts";
import { addKeyUsage } from "./credential-store.ts";

interface PendingUsage {
  lastUsedAtMs: number;
  requests: number;
}

/** Pending keys that trigger an early flush, so memory stays bounded when very many keys are used in a minute. */
const USAGE_BATCH_KEYS_MAX = 10_000;

export class UsageRecorder {
  private pending = new Map<string, PendingUsage>();

  /** `onBatchFull` is told when the batch reaches its bound; it flushes soon after, off the request path. */
  constructor(private readonly onBatchFull: () => void = () => {}) {}

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

  get pendingKeys(): number {
    return this.pending.size;
  }

  /** Writes everything gathered so far; on failure the usage is kept for the next flush. Returns keys written. */
  async flush(storage: Storage): Promise<number> {
    if (this.pending.size === 0) return 0;
    const batch = this.pending;
    this.pending = new Map();
    try {
      await storage.writeTransaction(async (tx) => {
        for (const [keyId, usage] of batch) await addKeyUsage(tx, keyId, usage.lastUsedAtMs, usage.requests);
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
      throw error;
    }
  }
}
