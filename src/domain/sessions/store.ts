/** Token-signing keys in the database (either engine: see src/db/storage.ts). */
import { asc, eq } from "drizzle-orm";
import type { SigningKeyRow } from "../../db/schema.ts";
import type { Executor } from "../../db/storage.ts";

export async function listSigningKeys(x: Executor): Promise<SigningKeyRow[]> {
  return x.q.select().from(x.t.signingKeys).orderBy(asc(x.t.signingKeys.activatesAtMs), asc(x.t.signingKeys.kid));
}

export async function insertSigningKey(x: Executor, row: SigningKeyRow): Promise<void> {
  await x.q.insert(x.t.signingKeys).values(row);
}

export async function replacePrivateKey(x: Executor, kid: string, privateKey: string): Promise<void> {
  await x.q.update(x.t.signingKeys).set({ privateKey }).where(eq(x.t.signingKeys.kid, kid));
}
