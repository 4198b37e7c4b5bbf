/**
 * First start: the default tenant, the default project and the root key, created once no matter how many processes
 * or nodes start together on a fresh database (the check and the inserts share one write transaction, and unique
 * indexes allow a single default tenant, default project and root key).
 *
 * The root key is LATCHKEY_ROOT_KEY when that is set on first start (automation knows it in advance), otherwise a
 * fresh secret that the caller prints once. Later starts never create another; a different LATCHKEY_ROOT_KEY on a
 * later start is reported, not adopted, because replacing the operator's key silently would be worse.
 */

import type { Storage } from "../../db/storage.ts";
import { constantTimeEqual } from "../../lib/crypto.ts";
import { newId } from "../../lib/ids.ts";
import { MODULES } from "../../lib/modules.ts";
import { SYSTEM_ACTOR } from "../audit/service.ts";
import { generateSecret, hashSecret, ROOT_KEY_PREFIX } from "../keys/secret.ts";
import { insertNewKey } from "../keys/service.ts";
import { findRootKey, listLiveSecretHashes } from "../keys/store.ts";
import { newProjectRow } from "./service.ts";
import { findDefaultProject, findDefaultTenant, insertProject, insertTenant } from "./store.ts";

export interface Bootstrap {
  tenantId: string;
  projectId: string;
  rootKeyId: string;
  /** The root key's secret when this start created it from nothing; null otherwise. Print once, keep nowhere. */
  generatedRootSecret: string | null;
  /** True when LATCHKEY_ROOT_KEY was given but is not a live secret of the existing root key. */
  configuredRootKeyIgnored: boolean;
}

export async function ensureDefaults(
  storage: Storage,
  configuredRootSecret: string | undefined,
  nowMilliseconds: number,
): Promise<Bootstrap> {
  return storage.writeTransaction(async (tx) => {
    let tenant = await findDefaultTenant(tx);
    if (!tenant) {
      tenant = {
        id: newId("tenant", nowMilliseconds),
        name: "default",
        status: "active",
        subscription: "active",
        modules: [...MODULES],
        isDefault: true,
        createdAtMs: nowMilliseconds,
        updatedAtMs: nowMilliseconds,
        deletedAtMs: null,
      };
      await insertTenant(tx, tenant);
    }
    let project = await findDefaultProject(tx);
    if (!project) {
      project = newProjectRow({ tenantId: tenant.id, name: "default" }, true, nowMilliseconds);
      await insertProject(tx, project);
    }
    const existingRoot = await findRootKey(tx);
    if (existingRoot) {
      const configuredRootKeyIgnored =
        configuredRootSecret !== undefined &&
        !(await listLiveSecretHashes(tx, existingRoot.id, nowMilliseconds)).some((hash) =>
          constantTimeEqual(hash, hashSecret(configuredRootSecret)),
        );
      return {
        tenantId: tenant.id,
        projectId: project.id,
        rootKeyId: existingRoot.id,
        generatedRootSecret: null,
        configuredRootKeyIgnored,
      };
    }
    const secret = configuredRootSecret ?? generateSecret(ROOT_KEY_PREFIX);
    const rootKey = await insertNewKey(
      tx,
      SYSTEM_ACTOR,
      {
        projectId: project.id,
        tenantId: tenant.id,
        name: "root",
        scopes: [],
        owner: null,
        expiresAtMs: null,
        isRoot: true,
        enabled: true,
        meta: null,
        ipAllowlist: null,
        ratelimit: null,
        parentKeyId: null,
      },
      secret,
      nowMilliseconds,
    );
    return {
      tenantId: tenant.id,
      projectId: project.id,
      rootKeyId: rootKey.id,
      generatedRootSecret: configuredRootSecret === undefined ? secret : null,
      configuredRootKeyIgnored: false,
    };
  });
}
