/**
 * Looking a pending login up by its user code, with wrong codes bounded (RFC 8628 §5.1): a code is short, so within a
 * login lifetime (the approver's project's `cli_session_ttl_seconds`) at most five wrong codes per approving key (a
 * session token counts against its parent key, so minting tokens for new "users" buys no guesses), five per client
 * address and fifty per project, whoever guesses. Past any bound, every lookup by code is 429 until the oldest miss
 * leaves the window.
 *
 * Misses are rows in the database, counted and recorded in the same write transaction as the lookup, taken in turn
 * with every other lookup on the same bounds (Storage.writeTransactionInTurn): a guess waits for the one before it
 * and sees its miss, so the bounds are exact however many requests, processes or nodes guess at once, on either
 * engine. A right code records nothing: approving costs an honest approver no guesses.
 */
import type { CliLoginRow } from "../../db/schema.ts";
import type { Storage } from "../../db/storage.ts";
import { AppError } from "../../lib/errors.ts";
import type { Caller } from "../keys/caller.ts";
import { findProject } from "../tenants/store.ts";
import { normaliseUserCode, WRONG_USER_CODE_ATTEMPTS, WRONG_USER_CODE_ATTEMPTS_PER_PROJECT } from "./model.ts";
import * as store from "./store.ts";

/** Misses older than the longest login lifetime a project may set count against nothing and are dropped. */
const LONGEST_WINDOW_MILLISECONDS = 3600 * 1000;

export async function findPendingLoginByUserCode(
  storage: Storage,
  approver: Caller,
  requesterIp: string | null,
  userCode: string,
  inReach: (login: CliLoginRow | undefined) => login is CliLoginRow,
  nowMilliseconds: number,
): Promise<CliLoginRow | undefined> {
  const windowSeconds = (await findProject(storage.reader, approver.projectId))?.cliSessionTtlSeconds ?? 600;
  const by: store.WrongCodeCounts = { projectId: approver.projectId, keyId: approver.keyId, ip: requesterIp };
  const locks = [`wrong-codes:project:${by.projectId}`, `wrong-codes:key:${by.keyId}`];
  if (by.ip !== null) locks.push(`wrong-codes:ip:${by.ip}`);
  return storage.writeTransactionInTurn(locks, async (tx) => {
    const counted = await store.countWrongCodes(tx, by, nowMilliseconds - windowSeconds * 1000);
    if (
      counted.key >= WRONG_USER_CODE_ATTEMPTS ||
      counted.ip >= WRONG_USER_CODE_ATTEMPTS ||
      counted.project >= WRONG_USER_CODE_ATTEMPTS_PER_PROJECT
    ) {
      throw new AppError("RATE_LIMITED", { message: "Too many wrong user codes; wait before trying again." });
    }
    const code = normaliseUserCode(userCode);
    const login = code === null ? undefined : await store.findPendingCliLoginByUserCode(tx, code);
    if (!inReach(login)) {
      await store.forgetWrongCodesUntil(tx, nowMilliseconds - LONGEST_WINDOW_MILLISECONDS);
      await store.recordWrongCode(tx, by, nowMilliseconds);
    }
    return login;
  });
}
