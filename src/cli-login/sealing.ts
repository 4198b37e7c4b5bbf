/**
 * The key minted on approval must wait for the CLI's poll, possibly in another process, so it goes to the database;
 * but only as a box the session id opens. The session id never reaches the database (only its hash), so the stored
 * box is unreadable to anyone without it, the operator and a stolen database file included.
 *
 *   seed        = HKDF-SHA256(session id, "latchkey cli session seal v1")
 *   recipient   = X25519 key pair from seed; its public half is stored at session creation
 *   box         = ephemeral X25519 public key ‖ AES-256-GCM(HKDF(shared secret), minted key)
 *
 * Sealing needs only the public half (approval happens by user code, without the session id); opening needs the id
 * (the CLI presents it on every poll).
 */
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from "node:crypto";

const PKCS8_X25519_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");
const SEED_INFO = "latchkey cli session seal v1";
const BOX_INFO = "latchkey cli session box v1";

function recipientPrivateKey(loginId: string): KeyObject {
  const seed = Buffer.from(hkdfSync("sha256", loginId, "", SEED_INFO, 32));
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, seed]), format: "der", type: "pkcs8" });
}

function rawPublicKey(key: KeyObject): Buffer {
  return (key.export({ format: "der", type: "spki" }) as Buffer).subarray(-32);
}

function publicKeyFromRaw(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: "OKP", crv: "X25519", x: raw.toString("base64url") }, format: "jwk" });
}

async function boxKey(sharedSecret: Buffer, ephemeralPublic: Buffer): Promise<CryptoKey> {
  const material = Buffer.from(hkdfSync("sha256", sharedSecret, ephemeralPublic, BOX_INFO, 32));
  return crypto.subtle.importKey("raw", material, "AES-GCM", false, ["encrypt", "decrypt"]);
}

/** The public half to store at session creation. */
export function sealingPublicKeyFor(loginId: string): string {
  return rawPublicKey(createPublicKey(recipientPrivateKey(loginId))).toString("base64url");
}

export async function seal(plaintext: string, sealingPublicKey: string): Promise<string> {
  const ephemeral = generateKeyPairSync("x25519");
  const ephemeralPublic = rawPublicKey(ephemeral.publicKey);
  const shared = diffieHellman({
    privateKey: ephemeral.privateKey,
    publicKey: publicKeyFromRaw(Buffer.from(sealingPublicKey, "base64url")),
  });
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv },
    await boxKey(shared, ephemeralPublic),
    new TextEncoder().encode(plaintext),
  );
  return [ephemeralPublic, Buffer.from(iv), Buffer.from(sealed)].map((part) => part.toString("base64url")).join(".");
}

export async function open(box: string, loginId: string): Promise<string> {
  const [ephemeralText, ivText, sealedText] = box.split(".");
  const ephemeralPublic = Buffer.from(ephemeralText ?? "", "base64url");
  const shared = diffieHellman({
    privateKey: recipientPrivateKey(loginId),
    publicKey: publicKeyFromRaw(ephemeralPublic),
  });
  const opened = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: Buffer.from(ivText ?? "", "base64url") },
    await boxKey(shared, ephemeralPublic),
    Buffer.from(sealedText ?? "", "base64url"),
  );
  return new TextDecoder().decode(opened);
}
