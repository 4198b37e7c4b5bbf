/**
 * Changing LATCHKEY_MASTER_KEY (`latchkey master-key rotate`). Every private signing key is opened with the current
 * master key (or read as stored, when none ever sealed it) and sealed again under the new one, in one write
 * transaction: the database never holds keys sealed under two master keys, and a key the current master key cannot
 * open stops the rotation before anything is written. The public keys, and so every token already issued, are
 * untouched.
 *
 * Processes running meanwhile keep signing with the keys they opened at start; each is restarted with the new
 * master key. Until then none of them may seal a new signing key under the old one (rotateSigningKey checks).
 */

import type { Storage } from "../../db/storage.ts";
import type { AuditActor } from "../audit/service.ts";
import { openPrivateKey, sealPrivateKey } from "./key-encryption.ts";
import { auditSigningKey } from "./signing-keys.ts";
import { listSigningKeys, replacePrivateKey } from "./store.ts";

/** Seals every signing key under `next`; returns how many. Throws MasterKeyError when `current` does not open one. */
export async function resealSigningKeys(
  storage: Storage,
  current: CryptoKey | null,
  next: CryptoKey,
  actor: AuditActor,
  nowMilliseconds: number,
): Promise<number> {
  const resealed = await storage.writeTransaction(async (tx) => {
    const rows = await listSigningKeys(tx);
    for (const row of rows) {
      const sealed = await sealPrivateKey(await openPrivateKey(row.privateKey, current), next);
      await replacePrivateKey(tx, row.kid, sealed);
      const details = { previously_sealed: current !== null };
      await auditSigningKey(tx, actor, "signing_key.resealed", row.kid, details, nowMilliseconds);
    }
    return rows.length;
  });
  // Read back outside the transaction: what a restarted server will open.
  for (const row of await listSigningKeys(storage.reader)) await openPrivateKey(row.privateKey, next);
  return resealed;
}
