/**
 * The hot path's memory: what a credential decision needs, so a warm verification touches no disk.
 *
 *   secret hash → key id      (never changes once written)
 *   key id      → key row and its secrets
 *   project id  → project row
 *   tenant id   → tenant row
 *
 * All four are bounded LRUs. Entries are dropped when the change log says their row changed (see change-log.ts), so a
 * revocation or a tenant change in any process sharing the file is seen within a poll interval, and at once in the
 * process that made it. Unknown hashes are not remembered: a well-formed but unknown key costs one indexed lookup.
 */
import { LRUCache } from "lru-cache";
import type { Db } from "../db/client.ts";
import type { ChangeRow, ProjectRow, TenantRow } from "../db/schema.ts";
import {
  findKeyIdBySecretHash,
  findKeyWithSecrets,
  findProjectForCredential,
  findTenantForCredential,
  type KeyCredentialRecord,
  type KeyWithSecrets,
} from "./credential-store.ts";

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
  readonly counters: CacheCounters = { hits: 0, misses: 0 };

  constructor(
    private readonly db: Db,
    sizes: CredentialCacheSizes,
  ) {
    this.keyIdBySecretHash = new LRUCache({ max: sizes.keys });
    this.keys = new LRUCache({ max: sizes.keys });
    this.projects = new LRUCache({ max: sizes.projects });
    this.tenants = new LRUCache({ max: sizes.tenants });
  }

  /** The record for the secret with this hash, or undefined when no key has such a secret. */
  bySecretHash(secretHash: string): KeyCredentialRecord | undefined {
    let keyId = this.keyIdBySecretHash.get(secretHash);
    if (keyId === undefined) {
      this.counters.misses++;
      keyId = findKeyIdBySecretHash(this.db, secretHash);
      if (keyId === undefined) return undefined;
      this.keyIdBySecretHash.set(secretHash, keyId);
    } else {
      this.counters.hits++;
    }
    const key = this.keyWithSecrets(keyId);
    const secret = key?.secrets.find((candidate) => candidate.hash === secretHash);
    return key && secret ? this.assemble(key, secret) : undefined;
  }

  /** The record for the key's secret whose hash satisfies `matches` (used for session tokens' parents). */
  byKeyId(keyId: string, matches: (secretHash: string) => boolean): KeyCredentialRecord | undefined {
    const key = this.keyWithSecrets(keyId);
    const secret = key?.secrets.find((candidate) => matches(candidate.hash));
    return key && secret ? this.assemble(key, secret) : undefined;
  }

  /** A project as credential decisions see it (the root key's X-Project-Id selects one). */
  project(projectId: string): ProjectRow | undefined {
    return this.cached(this.projects, projectId, findProjectForCredential);
  }

  evict(entity: ChangeRow["entity"], entityId: string): void {
    if (entity === "api_key") this.keys.delete(entityId);
    else if (entity === "project") this.projects.delete(entityId);
    else this.tenants.delete(entityId);
  }

  clear(): void {
    this.keyIdBySecretHash.clear();
    this.keys.clear();
    this.projects.clear();
    this.tenants.clear();
  }

  get sizes(): { keys: number; projects: number; tenants: number } {
    return { keys: this.keys.size, projects: this.projects.size, tenants: this.tenants.size };
  }

  private keyWithSecrets(keyId: string): KeyWithSecrets | undefined {
    return this.cached(this.keys, keyId, findKeyWithSecrets);
  }

  private assemble(key: KeyWithSecrets, secret: KeyWithSecrets["secrets"][number]): KeyCredentialRecord | undefined {
    const project = this.project(key.key.projectId);
    const tenant = project && this.cached(this.tenants, project.tenantId, findTenantForCredential);
    if (!project || !tenant) return undefined;
    return { key: key.key, secretHash: secret.hash, secretRetiresAtMs: secret.retiresAtMs, project, tenant };
  }

  private cached<Row extends object>(
    cache: LRUCache<string, Row>,
    id: string,
    load: (db: Db, id: string) => Row | undefined,
  ): Row | undefined {
    const hit = cache.get(id);
    if (hit) return hit;
    const loaded = load(this.db, id);
    if (loaded) cache.set(id, loaded);
    return loaded;
  }
}
