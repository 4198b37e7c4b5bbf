import { asc, eq } from "drizzle-orm";
import type { Executor } from "../db/executor.ts";
import { type SigningKeyRow, signingKeys } from "../db/schema.ts";

export function listSigningKeys(executor: Executor): SigningKeyRow[] {
  return executor.select().from(signingKeys).orderBy(asc(signingKeys.activatesAtMs), asc(signingKeys.kid)).all();
}

export function insertSigningKey(executor: Executor, row: SigningKeyRow): void {
  executor.insert(signingKeys).values(row).run();
}

export function replacePrivateKey(executor: Executor, kid: string, privateKey: string): void {
  executor.update(signingKeys).set({ privateKey }).where(eq(signingKeys.kid, kid)).run();
}
