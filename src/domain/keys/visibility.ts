/**
 * Which keys a caller may see and act on, and what the services of keys say about the key they act on: the one
 * visibility rule, the rule that changing a key needs all it can do, and the audit target.
 */
import type { ApiKeyRow } from "../../db/schema.ts";
import type { Executor } from "../../db/storage.ts";
import { AppError } from "../../lib/errors.ts";
import type { Caller } from "./caller.ts";
import { scopesBeyondGrantor } from "./scopes.ts";
import * as store from "./store.ts";

export function keyTarget(key: ApiKeyRow) {
  return { type: "api_key" as const, id: key.id };
}

export async function projectOf(executor: Executor, key: ApiKeyRow): Promise<{ id: string; tenantId: string }> {
  return (await store.findKeyProject(executor, key.projectId))!;
}

/** Rotating or changing a key acts on all it can do, so the caller must be able to grant all of it. */
export function requireEveryScopeOf(caller: Caller, key: ApiKeyRow, message: string): void {
  const beyond = scopesBeyondGrantor(caller, key.scopes);
  if (beyond.length > 0) {
    throw new AppError("SCOPE_NOT_GRANTED", {
      message,
      details: beyond.map((scope) => ({ path: "scopes", message: scope })),
    });
  }
}

/**
 * The single visibility rule: own project only (the root key without X-Project-Id: every project), and the root key
 * is visible to the root key alone.
 */
export function visibleKeyOrThrow(key: ApiKeyRow | undefined, caller: Caller): ApiKeyRow {
  const inReach = key !== undefined && (caller.crossProject || key.projectId === caller.projectId);
  const visible = inReach && (!key.isRoot || caller.isRoot);
  if (!visible) throw new AppError("NOT_FOUND", { message: "No such key." });
  return key;
}
