/**
 * The hot path's memory: what a credential decision needs, so a warm verification touches no database.
 *
 *   secret hash → key id      (never changes once written)
 *   key id      → key row and its secrets
 *   project id  → project row
 *   tenant id   → tenant row
 *
 * All four are bounded LRUs. Entries are dropped when the change log says their row changed (see change-log.ts), so a
 * revocation or a tenant change made anywhere is seen within the change log's bound, and at once (after its commit)
 * in the process that made it. Unknown hashes are not remembered: a well-formed but unknown key costs one lookup.
 *
 * Two rules keep it true under concurrency:
 * - a row loaded while an eviction happened is used for its request but not kept (the load may have read the row
 *   before the change committed): every eviction moves a generation counter a load compares;
 * - while the change log cannot vouch for the cache (`trusted` false: a node out of sync), nothing is answered from it:
 *   every lookup reads the database.
 */
import type { LRUCache } from "lru-cache";
import type { ChangedEntity } from "../db/change-recorder.ts";
import type { ProjectRow, TenantRow } from "../db/schema.ts";
import type { Executor, Storage } from "../db/storage.ts";
import { boundedCache } from "../lib/bounded-cache.ts";
import { withDeadline } from "../lib/deadline.ts";
import {
  findCredentialRows,
  findProjectForCredential,
  type KeyCredentialRecord,
  type KeyWithSecrets,
} from "./credential-store.ts";

/**
 * A decision that must read the database (a cold key, or a node out of sync) gives up after this long: the request is
 * answered 503 rather than held while the database is unreachable without saying so.
 */
export const CREDENTIAL_READ_DEADLINE_MILLISECONDS = 2_000;

export interface CredentialCacheSizes {
  keys: number;
  projects: number;
  tenants: number;
}

export interface CacheCounters {
  hits: number;
  misses: number;
}

export class CredentialCache {
  private readonly keyIdBySecretHash: LRUCache<string, string>;
  private readonly keys: LRUCache<string, KeyWithSecrets>;
  private readonly projects: LRUCache<string, ProjectRow>;
  private readonly tenants: LRUCache<string, TenantRow>;
  /** A secret hash's whole record in one entry, good while nothing was evicted since (the generation is unchanged). */
  private readonly warm: LRUCache<string, { record: KeyCredentialRecord; generation: number }>;
  private generation = 0;
  readonly counters: CacheCounters = { hits: 0, misses: 0 };

  constructor(
    private readonly storage: Storage,
    sizes: CredentialCacheSizes,
    private readonly trusted: () => boolean = () => true,
  ) {
    this.keyIdBySecretHash = boundedCache(sizes.keys);
    this.keys = boundedCache(sizes.keys);
    this.projects = boundedCache(sizes.projects);
    this.tenants = boundedCache(sizes.tenants);
    this.warm = boundedCache(sizes.keys);
  }

  /** Moves whenever anything is dropped: what was worked out from cached rows at an earlier value may be stale. */
  get currentGeneration(): number {
    return this.generation;
  }

  /** Whether anything may be answered from memory now (not while the node is out of sync). */
  mayAnswerFromMemory(): boolean {
    return this.trusted();
  }

  /** The record for this secret hash if memory holds all of it (and may be trusted); no database, no waiting. */
  cachedBySecretHash(secretHash: string): KeyCredentialRecord | undefined {
    if (!this.trusted()) return undefined;
    const warm = this.warm.get(secretHash);
    if (warm !== undefined && warm.generation === this.generation) {
      this.counters.hits++;
      return warm.record;
    }
    const keyId = this.keyIdBySecretHash.get(secretHash);
    const record = keyId === undefined ? undefined : this.recordInMemory(keyId, (hash) => hash === secretHash);
    if (record !== undefined) this.warm.set(secretHash, { record, generation: this.generation });
    return record;
  }

  /** cachedBySecretHash for a session token's parent: the key's secret whose hash satisfies `matches`. */
  cachedByKeyId(keyId: string, matches: (secretHash: string) => boolean): KeyCredentialRecord | undefined {
    return this.trusted() ? this.recordInMemory(keyId, matches) : undefined;
  }

  /** The record memory holds for the key's secret whose hash satisfies `matches`: key, project and tenant, or none. */
  private recordInMemory(keyId: string, matches: (secretHash: string) => boolean): KeyCredentialRecord | undefined {
    const key = this.keys.get(keyId);
    const secret = key?.secrets.find((candidate) => matches(candidate.hash));
    const project = key && this.projects.get(key.key.projectId);
    const tenant = project && this.tenants.get(project.tenantId);
    if (!key || !secret || !project || !tenant) return undefined;
    this.counters.hits++;
    return recordOf(key, secret, project, tenant);
  }

  /** The record for the secret with this hash, or undefined when no key has such a secret. */
  async bySecretHash(secretHash: string): Promise<KeyCredentialRecord | undefined> {
    const cached = this.cachedBySecretHash(secretHash);
    if (cached) return cached;
    this.counters.misses++;
    const matches = (hash: string) => hash === secretHash;
    // The key id of a hash never changes: with it in memory, only what the key's id names may need reading.
    const keyId = this.trusted() ? this.keyIdBySecretHash.get(secretHash) : undefined;
    return this.load(keyId === undefined ? { secretHash } : { keyId }, matches);
  }

  /** The record for the key's secret whose hash satisfies `matches` (used for session tokens' parents). */
  async byKeyId(keyId: string, matches: (secretHash: string) => boolean): Promise<KeyCredentialRecord | undefined> {
    return (this.trusted() ? this.recordInMemory(keyId, matches) : undefined) ?? this.load({ keyId }, matches);
  }

  /**
   * Reads the key, all its secrets, its project and its tenant in one query, keeps them (unless something was
   * dropped meanwhile: the read may predate that change) and answers with the record of the matching secret.
   */
  private async load(
    by: { secretHash: string } | { keyId: string },
    matches: (secretHash: string) => boolean,
  ): Promise<KeyCredentialRecord | undefined> {
    const generation = this.generation;
    const rows = await withDeadline(
      findCredentialRows(this.storage.reader, by),
      CREDENTIAL_READ_DEADLINE_MILLISECONDS,
      "the database",
    );
    if (rows === undefined) return undefined;
    const { key } = rows;
    // A project's many keys share its one row object (and a tenant's projects theirs) while it is unchanged.
    const project = sameRow(this.projects.get(rows.project.id), rows.project);
    const tenant = sameRow(this.tenants.get(rows.tenant.id), rows.tenant);
    if (generation === this.generation) {
      for (const secret of key.secrets) this.keyIdBySecretHash.set(secret.hash, key.key.id);
      this.keys.set(key.key.id, key);
      this.projects.set(project.id, project);
      this.tenants.set(tenant.id, tenant);
    }
    const secret = key.secrets.find((candidate) => matches(candidate.hash));
    return secret && recordOf(key, secret, project, tenant);
  }

  /** A project as credential decisions see it (the root key's X-Project-Id selects one). */
  async project(projectId: string): Promise<ProjectRow | undefined> {
    return this.cached(this.projects, projectId, findProjectForCredential);
  }

  evict(entity: ChangedEntity, entityId: string): void {
    this.generation++;
    if (entity === "api_key") this.keys.delete(entityId);
    else if (entity === "project") this.projects.delete(entityId);
    else if (entity === "tenant") this.tenants.delete(entityId);
  }

  clear(): void {
    this.generation++;
    this.warm.clear();
    this.keyIdBySecretHash.clear();
    this.keys.clear();
    this.projects.clear();
    this.tenants.clear();
  }

  get sizes(): { keys: number; projects: number; tenants: number } {
    return { keys: this.keys.size, projects: this.projects.size, tenants: this.tenants.size };
  }

  private async cached<Value extends {}>(
    cache: LRUCache<string, Value>,
    id: string,
    load: (db: Executor, id: string) => Promise<Value | undefined>,
  ): Promise<Value | undefined> {
    if (this.trusted()) {
      const hit = cache.get(id);
      if (hit !== undefined) return hit;
    }
    const generation = this.generation;
    const loaded = await withDeadline(
      load(this.storage.reader, id),
      CREDENTIAL_READ_DEADLINE_MILLISECONDS,
      "the database",
    );
    if (loaded !== undefined && generation === this.generation) cache.set(id, loaded);
    return loaded;
  }
}

/** The row held, when the one just read equals it field for field (nothing changed it since); else the new one. */
function sameRow<Row extends object>(held: Row | undefined, read: Row): Row {
  return held !== undefined && Bun.deepEquals(held, read, true) ? held : read;
}

function recordOf(
  key: KeyWithSecrets,
  secret: KeyWithSecrets["secrets"][number],
  project: ProjectRow,
  tenant: TenantRow,
): KeyCredentialRecord {
  return { key: key.key, secretHash: secret.hash, secretRetiresAtMs: secret.retiresAtMs, project, tenant };
}
