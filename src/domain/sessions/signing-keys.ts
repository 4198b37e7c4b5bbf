/**
 * Token-signing keys: Ed25519, stored in the database, rotated with an overlap.
 *
 *   created ──(published in the JWKS at once)── activates_at ──signs── next key activates ──(still published)──
 *   next key's activation + the longest token lifetime ── leaves the JWKS
 *
 * A rotation publishes the new key before it signs anything (60 s by default), so verifiers holding a cached JWKS
 * pick it up before they meet a token it signed (jose refetches on an unknown kid at most every 30 s). The previous
 * key keeps verifying until every token it could have signed has expired.
 *
 * Several processes may share the database: each keeps a ring loaded from it, reloads it every few seconds, and at
 * once when it meets a kid it does not know (at most once a second, so made-up kids cannot hammer the database).
 */
import { createPublicKey, type JsonWebKeyInput, type KeyObject } from "node:crypto";
import { exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import type { SigningKeyRow } from "../../db/schema.ts";
import type { Executor, Storage } from "../../db/storage.ts";
import { newId } from "../../lib/ids.ts";
import { type AuditActor, recordAuditEvent } from "../audit/service.ts";
import { SESSION_TTL_SECONDS_MAX } from "../tenants/model.ts";
import { isEncrypted, MasterKeyError, openPrivateKey, sealPrivateKey } from "./key-encryption.ts";
import { insertSigningKey, listSigningKeys, replacePrivateKey } from "./store.ts";

export const SIGNING_ALGORITHM = "EdDSA";
export const BROWSER_SESSION_TTL_SECONDS = 60 * 60;
/** No token lives longer than this; a retired key stays published this long after its last possible signature. */
export const MAX_TOKEN_LIFETIME_SECONDS = Math.max(SESSION_TTL_SECONDS_MAX, BROWSER_SESSION_TTL_SECONDS);
const RELOAD_INTERVAL_MILLISECONDS = 5_000;
const UNKNOWN_KID_RELOAD_INTERVAL_MILLISECONDS = 1_000;

export interface PublishedSigningKey {
  kid: string;
  activatesAtMs: number;
  /** When the next key takes over signing; null while this key is the newest. */
  retiresAtMs: number | null;
  /** When it leaves the JWKS; null while it may still sign. */
  unpublishedAtMs: number | null;
}

/** The schedule of `rows` (ordered by activation) as seen at `nowMilliseconds`; keys past publication are left out. */
function signingSchedule(rows: readonly SigningKeyRow[], nowMilliseconds: number): PublishedSigningKey[] {
  const schedule: PublishedSigningKey[] = [];
  rows.forEach((row, index) => {
    const retiresAtMs = rows[index + 1]?.activatesAtMs ?? null;
    const unpublishedAtMs = retiresAtMs === null ? null : retiresAtMs + MAX_TOKEN_LIFETIME_SECONDS * 1000;
    if (unpublishedAtMs === null || nowMilliseconds < unpublishedAtMs) {
      schedule.push({ kid: row.kid, activatesAtMs: row.activatesAtMs, retiresAtMs, unpublishedAtMs });
    }
  });
  return schedule;
}

export type SigningKeyStatus = "pending" | "active" | "retired";

/** A published key's state at `nowMilliseconds`: not yet signing, signing, or only still verifying. */
export function signingKeyStatus(key: PublishedSigningKey, nowMilliseconds: number): SigningKeyStatus {
  if (key.activatesAtMs > nowMilliseconds) return "pending";
  return key.retiresAtMs !== null && key.retiresAtMs <= nowMilliseconds ? "retired" : "active";
}

/**
 * The key that signs at `nowMilliseconds`: the latest one already active. Before any key is active (a process whose
 * clock trails the one that created the first key by a few milliseconds) the earliest key signs: there is no other.
 */
function signerAt(rows: readonly SigningKeyRow[], nowMilliseconds: number): SigningKeyRow | undefined {
  let signer: SigningKeyRow | undefined = rows[0];
  for (const row of rows) if (row.activatesAtMs <= nowMilliseconds) signer = row;
  return signer;
}

function rotationIsDue(rows: readonly SigningKeyRow[], rotationDays: number, nowMilliseconds: number): boolean {
  if (rotationDays <= 0) return false;
  const signer = signerAt(rows, nowMilliseconds);
  const pending = rows.some((row) => row.activatesAtMs > nowMilliseconds);
  return signer !== undefined && !pending && nowMilliseconds - signer.activatesAtMs >= rotationDays * 86_400_000;
}

async function newSigningKeyRow(masterKey: CryptoKey | null, activatesAtMs: number, nowMilliseconds: number) {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { crv: "Ed25519", extractable: true });
  const kid = newId("signingKey", nowMilliseconds);
  const { kty, crv, x } = await exportJWK(publicKey);
  const row: SigningKeyRow = {
    kid,
    algorithm: SIGNING_ALGORITHM,
    publicJwk: { kty: kty!, crv: crv!, x: x!, kid, alg: SIGNING_ALGORITHM, use: "sig" },
    privateKey: await sealPrivateKey(JSON.stringify(await exportJWK(privateKey)), masterKey),
    createdAtMs: nowMilliseconds,
    activatesAtMs,
  };
  return row;
}

export class SigningKeyRing {
  private rows: SigningKeyRow[] = [];
  /** node:crypto key objects, made once per kid: its Ed25519 verify costs half of WebCrypto's (65 µs vs 154 µs). */
  private readonly verificationKeys = new Map<string, KeyObject>();
  private readonly signingKeys = new Map<string, CryptoKey>();
  private loadedAtMs = Number.NEGATIVE_INFINITY;
  private lastUnknownKidReloadAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly storage: Storage,
    private readonly masterKey: CryptoKey | null,
  ) {}

  async reload(nowMilliseconds: number): Promise<void> {
    const rows = await listSigningKeys(this.storage.reader);
    for (const row of rows) {
      if (!this.verificationKeys.has(row.kid)) {
        const key = createPublicKey({ key: row.publicJwk as JsonWebKeyInput["key"], format: "jwk" });
        // Only Ed25519 verifies: "EdDSA" names Ed448 too, which this server never makes.
        if (key.asymmetricKeyType === "ed25519") this.verificationKeys.set(row.kid, key);
      }
    }
    this.rows = rows;
    this.loadedAtMs = nowMilliseconds;
  }

  private async reloadIfStale(nowMilliseconds: number): Promise<void> {
    if (nowMilliseconds - this.loadedAtMs >= RELOAD_INTERVAL_MILLISECONDS || nowMilliseconds < this.loadedAtMs) {
      await this.reload(nowMilliseconds);
    }
  }

  async signer(nowMilliseconds: number): Promise<{ kid: string; key: CryptoKey }> {
    await this.reloadIfStale(nowMilliseconds);
    const row = signerAt(this.rows, nowMilliseconds);
    if (!row) throw new Error("no signing key is active");
    let key = this.signingKeys.get(row.kid);
    if (!key) {
      const jwk = JSON.parse(await openPrivateKey(row.privateKey, this.masterKey)) as JWK;
      key = (await importJWK(jwk, SIGNING_ALGORITHM)) as CryptoKey;
      this.signingKeys.set(row.kid, key);
    }
    return { kid: row.kid, key };
  }

  /** The public key for `kid` if that key is published at `nowMilliseconds`. */
  async verificationKey(kid: string, nowMilliseconds: number): Promise<KeyObject | undefined> {
    await this.reloadIfStale(nowMilliseconds);
    if (
      !this.rows.some((row) => row.kid === kid) &&
      nowMilliseconds - this.lastUnknownKidReloadAtMs >= UNKNOWN_KID_RELOAD_INTERVAL_MILLISECONDS
    ) {
      this.lastUnknownKidReloadAtMs = nowMilliseconds;
      await this.reload(nowMilliseconds);
    }
    const published = signingSchedule(this.rows, nowMilliseconds).some((key) => key.kid === kid);
    return published ? this.verificationKeys.get(kid) : undefined;
  }

  async jwks(nowMilliseconds: number): Promise<Record<string, string>[]> {
    await this.reloadIfStale(nowMilliseconds);
    const published = new Set(signingSchedule(this.rows, nowMilliseconds).map((key) => key.kid));
    return this.rows.filter((row) => published.has(row.kid)).map((row) => row.publicJwk);
  }

  async schedule(nowMilliseconds: number): Promise<PublishedSigningKey[]> {
    await this.reloadIfStale(nowMilliseconds);
    return signingSchedule(this.rows, nowMilliseconds);
  }
}

/** A change to one signing key in the audit trail: installation-wide, so of no tenant or project. */
export async function auditSigningKey(
  tx: Executor,
  actor: AuditActor,
  action: "signing_key.created" | "signing_key.rotated" | "signing_key.resealed",
  kid: string,
  details: Record<string, unknown>,
  nowMilliseconds: number,
): Promise<void> {
  await recordAuditEvent(
    tx,
    actor,
    { action, target: { type: "signing_key", id: kid }, tenantId: null, projectId: null, details },
    nowMilliseconds,
  );
}

export interface PreparedSigningKeys {
  ring: SigningKeyRing;
  /** Keys this call sealed with the master key: created sealed on a first start, or found in the clear. */
  sealed: number;
}

/**
 * Start-up: make sure a signing key exists (one, even when many processes start at once), seal any key stored in
 * the clear when a master key is now configured, and prove the master key opens the current signer.
 */
export async function prepareSigningKeys(
  storage: Storage,
  masterKey: CryptoKey | null,
  actor: AuditActor,
  nowMilliseconds: number,
): Promise<PreparedSigningKeys> {
  // Every start but the first finds keys: the key pair is made (outside the transaction: it is async work) only when
  // there are none, and the transaction checks again, as another process may have added one meanwhile.
  let created = false;
  if ((await listSigningKeys(storage.reader)).length === 0) {
    const candidate = await newSigningKeyRow(masterKey, nowMilliseconds, nowMilliseconds);
    created = await storage.writeTransaction(async (tx) => {
      if ((await listSigningKeys(tx)).length > 0) return false;
      await insertSigningKey(tx, candidate);
      await auditSigningKey(
        tx,
        actor,
        "signing_key.created",
        candidate.kid,
        { algorithm: candidate.algorithm },
        nowMilliseconds,
      );
      return true;
    });
  }
  let sealed = created && masterKey !== null ? 1 : 0;
  if (masterKey !== null) {
    for (const row of await listSigningKeys(storage.reader)) {
      if (isEncrypted(row.privateKey)) continue;
      const sealedKey = await sealPrivateKey(row.privateKey, masterKey);
      await storage.writeTransaction((tx) => replacePrivateKey(tx, row.kid, sealedKey));
      sealed++;
    }
  }
  const ring = new SigningKeyRing(storage, masterKey);
  await ring.reload(nowMilliseconds);
  await ring.signer(nowMilliseconds);
  return { ring, sealed };
}

export interface Rotation {
  kid: string;
  activatesAtMs: number;
}

/** Adds a new key that signs from `now + activationLeadSeconds`; the current one keeps signing until then. */
export async function rotateSigningKey(
  storage: Storage,
  ring: SigningKeyRing | null,
  masterKey: CryptoKey | null,
  actor: AuditActor,
  activationLeadSeconds: number,
  nowMilliseconds: number,
  onlyIfDueAfterDays?: number,
): Promise<Rotation | null> {
  const row = await newSigningKeyRow(masterKey, nowMilliseconds + activationLeadSeconds * 1000, nowMilliseconds);
  const rotated = await storage.writeTransaction(async (tx) => {
    // Re-read inside the lock: another process may have rotated since this one decided to.
    const rows = await listSigningKeys(tx);
    if (onlyIfDueAfterDays !== undefined && !rotationIsDue(rows, onlyIfDueAfterDays, nowMilliseconds)) {
      return false;
    }
    await ensureSameMasterKey(rows, masterKey);
    await insertSigningKey(tx, row);
    // Every other process and node reloads its ring when this commits (not at its next periodic reload).
    await storage.recordChange(tx, "signing_key", row.kid, nowMilliseconds);
    const details = { activates_at_ms: row.activatesAtMs, automatic: onlyIfDueAfterDays !== undefined };
    await auditSigningKey(tx, actor, "signing_key.rotated", row.kid, details, nowMilliseconds);
    return true;
  });
  if (!rotated) return null;
  await ring?.reload(nowMilliseconds);
  return { kid: row.kid, activatesAtMs: row.activatesAtMs };
}

/**
 * A new key must be sealed like the others: a process started before `latchkey master-key rotate` holds the old
 * master key (or none), and a key it sealed would open for nobody after the restart.
 */
async function ensureSameMasterKey(rows: readonly SigningKeyRow[], masterKey: CryptoKey | null): Promise<void> {
  const newest = rows.at(-1);
  if (newest === undefined) return;
  const sealedAsHere = masterKey === null ? !isEncrypted(newest.privateKey) : isEncrypted(newest.privateKey);
  const opens =
    sealedAsHere &&
    (await openPrivateKey(newest.privateKey, masterKey).then(
      () => true,
      () => false,
    ));
  if (!opens) {
    throw new MasterKeyError(
      "the signing keys were sealed again under another LATCHKEY_MASTER_KEY since this process started: " +
        "restart it with the new key",
    );
  }
}
