/**
 * Keeping every node's caches true. A write that can change a credential decision records the change in its own
 * transaction (`record`); once that transaction commits, this process drops the entry at once. Every other process or
 * node learns of it from the log:
 *
 * - SQLite: processes sharing the file read the log a few times a second (writers hold the write lock, so rows become
 *   visible in sequence order and a read never skips one).
 * - PostgreSQL: writers also NOTIFY in the transaction, so every node hears of a change when it commits; the log is
 *   still read (below the snapshot horizon, see src/db/postgres.ts) as the backstop.
 *
 * Being in sync (PostgreSQL). A node sends itself a heartbeat notification every 200 ms. Notifications arrive in
 * commit order, so when heartbeat n comes back, every change committed before it was sent has arrived too: the node is
 * confirmed in sync as of that heartbeat's sending. A node not confirmed for more than 1 s (a lost LISTEN
 * connection, an unreachable database) stops trusting its caches: every decision reads the database (and answers 503
 * when it cannot), never a stale "allowed". When listening starts again after a loss, the caches are dropped, since
 * notifications sent meanwhile were lost.
 *
 * Rows older than the retention are pruned. A reader that meets a gap (SQLite's sequence numbers jump), reads a burst
 * too large to apply row by row, or has not read the log for longer than half the retention, drops all its caches:
 * always safe, since the next request reads the database.
 */
import type { ChangedEntity, ChangeRecorder } from "../db/change-recorder.ts";
import type { Executor, Storage } from "../db/storage.ts";
import type { CredentialCache } from "./credential-cache.ts";

const READ_BATCH = 1000;
const CHANGE_RETENTION_MILLISECONDS = 60 * 60 * 1000;
/** A node not confirmed in sync for longer than this stops answering from its caches. */
export const SYNC_BOUND_MILLISECONDS = 1000;
export const HEARTBEAT_INTERVAL_MILLISECONDS = 200;
const HEARTBEAT = "heartbeat";

const CHANGED_ENTITIES: readonly string[] = ["api_key", "project", "tenant", "signing_key"] satisfies ChangedEntity[];

function isChangedEntity(kind: string | undefined): kind is ChangedEntity {
  return kind !== undefined && CHANGED_ENTITIES.includes(kind);
}

/** Wall time that only moves forward, for measuring how long ago something happened (not the injected clock). */
const elapsedNow = () => performance.now();

export class ChangeLog implements ChangeRecorder {
  private position = "0";
  private lastReadAt = Number.NEGATIVE_INFINITY;
  private readonly nodeId = crypto.randomUUID();
  private heartbeatsSent = 0;
  private readonly heartbeatSentAt = new Map<number, number>();
  private confirmedAt = Number.NEGATIVE_INFINITY;
  private listenings = 0;
  private unsubscribe: (() => Promise<void>) | null = null;
  /** Whether the last read of the log (SQLite) succeeded: a local file either answers or it does not. */
  private lastReadFailed = false;

  constructor(
    private readonly storage: Storage,
    private readonly cache: CredentialCache,
    private readonly onChange: (entity: ChangedEntity, entityId: string) => void | Promise<void> = () => {},
  ) {}

  /** Starts following the log from its end (the caches start empty), and listening where changes are pushed. */
  async start(): Promise<void> {
    this.position = await this.storage.changeLogEnd();
    this.lastReadAt = elapsedNow();
    if (this.storage.subscribe) {
      this.unsubscribe = await this.storage.subscribe(
        (payload) => this.hear(payload),
        () => this.listening(),
      );
    }
  }

  /** Told of every change this process commits (a primary relays them to its sibling workers at once). */
  onCommitted: (entity: ChangedEntity, entityId: string) => void = () => {};

  async record(tx: Executor, entity: ChangedEntity, entityId: string, nowMilliseconds: number): Promise<void> {
    await this.storage.recordChange(tx, entity, entityId, nowMilliseconds);
    tx.afterCommit(() => {
      this.onCommitted(entity, entityId);
      return this.apply(entity, entityId);
    });
  }

  /** A change a sibling worker committed, relayed by the primary: dropped from the caches at once. */
  applyRelayed(entity: ChangedEntity, entityId: string): void {
    this.applyInBackground(entity, entityId);
  }

  /** Reads what was committed since the last read and applies it; returns how many changes. */
  async poll(): Promise<number> {
    let applied = 0;
    try {
      if (elapsedNow() - this.lastReadAt > CHANGE_RETENTION_MILLISECONDS / 2) this.cache.clear();
      for (;;) {
        const page = await this.storage.readChanges(this.position, READ_BATCH);
        if (page.gap) this.cache.clear();
        for (const row of page.rows) this.applyInBackground(row.entity, row.entityId);
        this.position = page.position;
        applied += page.rows.length;
        if (page.rows.length < READ_BATCH || page.gap) break;
      }
      this.lastReadAt = elapsedNow();
      this.lastReadFailed = false;
      return applied;
    } catch (error) {
      this.lastReadFailed = true;
      throw error;
    }
  }

  /** Sends the next heartbeat (PostgreSQL); it confirms this node in sync when it comes back. */
  async heartbeat(): Promise<void> {
    if (!this.storage.notify) return;
    const number = ++this.heartbeatsSent;
    this.heartbeatSentAt.set(number, elapsedNow());
    // Heartbeats that never came back (a lost connection) are forgotten rather than kept forever.
    for (const sent of this.heartbeatSentAt.keys()) if (sent < number - 100) this.heartbeatSentAt.delete(sent);
    await this.storage.notify(`${HEARTBEAT}:${this.nodeId}:${number}`);
  }

  /**
   * Resolves once every change committed before the call has reached this node's caches: on SQLite by reading the
   * log, on PostgreSQL by a heartbeat's round trip (notifications arrive in commit order). False when that took
   * longer than the sync bound (the node is then out of sync, and says so).
   */
  async catchUp(): Promise<boolean> {
    if (!this.storage.notify) {
      await this.poll();
      return true;
    }
    const asked = elapsedNow();
    await this.heartbeat();
    while (this.confirmedAt < asked) {
      if (elapsedNow() - asked > SYNC_BOUND_MILLISECONDS) return false;
      await Bun.sleep(2);
    }
    return true;
  }

  /** Whether the caches may answer: on PostgreSQL, confirmed in sync within the bound; on SQLite, the log reads. */
  inSync(): boolean {
    if (!this.storage.subscribe) return !this.lastReadFailed;
    return elapsedNow() - this.confirmedAt <= SYNC_BOUND_MILLISECONDS;
  }

  /** Milliseconds since this node was last confirmed in sync (since its last read of the log, on SQLite). */
  syncLagMilliseconds(): number {
    const since = this.storage.subscribe ? this.confirmedAt : this.lastReadAt;
    return Math.max(0, elapsedNow() - since);
  }

  async prune(nowMilliseconds: number): Promise<number> {
    return this.storage.pruneChanges(nowMilliseconds - CHANGE_RETENTION_MILLISECONDS);
  }

  async stop(): Promise<void> {
    await this.unsubscribe?.();
    this.unsubscribe = null;
  }

  private hear(payload: string): void {
    const [kind, first, second] = payload.split(":");
    if (kind === HEARTBEAT) {
      if (first !== this.nodeId) return;
      const sentAt = this.heartbeatSentAt.get(Number(second));
      if (sentAt !== undefined) this.confirmedAt = Math.max(this.confirmedAt, sentAt);
      return;
    }
    if (isChangedEntity(kind) && first !== undefined) this.applyInBackground(kind, first);
  }

  private listening(): void {
    // The first time is the start; any later one follows a lost connection, whose notifications are gone.
    if (this.listenings++ > 0) this.cache.clear();
    this.heartbeatSentAt.clear();
  }

  /**
   * For changes heard or read (not made here): the caches are dropped at once; what follows (re-reading a project's
   * origins, the signing keys) may fail while the database is away, and is then left to the periodic reloads.
   */
  private applyInBackground(entity: ChangedEntity, entityId: string): void {
    Promise.resolve(this.apply(entity, entityId)).catch(() => {});
  }

  /** Drops what changed; whatever else follows a change (re-reading a project's origins) is returned to wait on. */
  private apply(entity: ChangedEntity, entityId: string): void | Promise<void> {
    this.cache.evict(entity, entityId);
    return this.onChange(entity, entityId);
  }
}
