/** Token-signing keys in the database (either engine: see src/db/storage.ts). */
import { asc, eq } from "drizzle-orm";
import type { SigningKeyRow } from "../../db/schema.ts";
import type { Executor } from "../../db/storage.ts";

export async function listSigningKeys(db: Executor): Promise<SigningKeyRow[]> {
  return db.drizzle
    .select()
    .from(db.tables.signingKeys)
    .orderBy(asc(db.tables.signingKeys.activatesAtMs), asc(db.tables.signingKeys.kid));
}

export async function insertSigningKey(db: Executor, row: SigningKeyRow): Promise<void> {
  await db.drizzle.insert(db.tables.signingKeys).values(row);
}

export async function replacePrivateKey(db: Executor, kid: string, privateKey: string): Promise<void> {
  await db.drizzle.update(db.tables.signingKeys).set({ privateKey }).where(eq(db.tables.signingKeys.kid, kid));
}
