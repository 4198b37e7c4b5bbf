/**
 * Private signing keys at rest. With LATCHKEY_MASTER_KEY set, each private key is stored as
 *
 *   enc:v1:<base64url 12-byte IV>:<base64url AES-256-GCM ciphertext and tag>
 *
 * under a key derived from the master key with HKDF-SHA256, so a copy of the database alone cannot sign tokens.
 * Without a master key the JWK is stored as is (the file's permissions are then its only protection).
 */
const ENCRYPTED_PREFIX = "enc:v1:";
const HKDF_SALT = new TextEncoder().encode("latchkey");
const HKDF_INFO = new TextEncoder().encode("latchkey signing keys v1");

export class MasterKeyError extends Error {
  override name = "MasterKeyError";
}

export async function deriveMasterKey(masterKeyText: string): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey("raw", new TextEncoder().encode(masterKeyText), "HKDF", false, [
    "deriveKey",
  ]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: HKDF_SALT, info: HKDF_INFO },
    material,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

export function isEncrypted(stored: string): boolean {
  return stored.startsWith(ENCRYPTED_PREFIX);
}

export async function sealPrivateKey(plaintext: string, masterKey: CryptoKey | null): Promise<string> {
  if (masterKey === null) return plaintext;
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, masterKey, new TextEncoder().encode(plaintext));
  return `${ENCRYPTED_PREFIX}${Buffer.from(iv).toString("base64url")}:${Buffer.from(sealed).toString("base64url")}`;
}

export async function openPrivateKey(stored: string, masterKey: CryptoKey | null): Promise<string> {
  if (!isEncrypted(stored)) return stored;
  if (masterKey === null) {
    throw new MasterKeyError(
      "LATCHKEY_MASTER_KEY is not set, but the signing keys in this database are sealed: set it to the key that " +
        "sealed them",
    );
  }
  const [ivText, sealedText] = stored.slice(ENCRYPTED_PREFIX.length).split(":");
  try {
    const opened = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: Buffer.from(ivText ?? "", "base64url") },
      masterKey,
      Buffer.from(sealedText ?? "", "base64url"),
    );
    return new TextDecoder().decode(opened);
  } catch {
    throw new MasterKeyError(
      "LATCHKEY_MASTER_KEY does not open the stored signing keys: another key sealed them " +
        "(after `latchkey master-key rotate`, use the new one)",
    );
  }
}
