/**
 * The RFC 8628 device grant over the same logins: the device code is the login id, the client id the project id.
 * RFC 8628 clients never acknowledge, so the key is delivered (and wiped) by the answer that carries it, and a
 * login started with PKCE is not redeemable here (RFC 8628 has no verifier to send).
 */
import { auditActorOf, type RequestContext } from "../audit/service.ts";
import { findKey } from "../keys/store.ts";
import { findProject } from "../tenants/store.ts";
import { type CliLoginDeps, expireIfLapsed, recordLoginEvent } from "./expiry.ts";
import { hashLoginId, isLoginIdShaped } from "./model.ts";
import { open } from "./sealing.ts";
import * as store from "./store.ts";

/** RFC 8628 token endpoint outcomes, named as the RFC names them. */
export type DeviceTokenOutcome =
  | { ok: true; accessToken: string; scopes: string[] }
  | { ok: false; error: "authorization_pending" | "slow_down" | "access_denied" | "expired_token" | "invalid_grant" };

export async function exchangeDeviceCode(
  deps: CliLoginDeps,
  deviceCode: string,
  clientId: string,
  context: RequestContext,
  nowMilliseconds: number,
): Promise<DeviceTokenOutcome> {
  const { storage } = deps;
  const login = isLoginIdShaped(deviceCode)
    ? await store.findCliLogin(storage.reader, hashLoginId(deviceCode))
    : undefined;
  if (!login || login.projectId !== clientId || login.codeChallenge !== null)
    return { ok: false, error: "invalid_grant" };
  const status = await expireIfLapsed(deps, login, context, nowMilliseconds);
  if (status === "denied") return { ok: false, error: "access_denied" };
  if (status === "expired") return { ok: false, error: "expired_token" };
  if (status === "delivered") return { ok: false, error: "invalid_grant" };
  const paced = await storage.writeTransaction(async (tx) => {
    if (await store.recordPoll(tx, login.idHash, nowMilliseconds)) return true;
    await store.slowDown(tx, login.idHash, nowMilliseconds);
    return false;
  });
  if (!paced) return { ok: false, error: "slow_down" };
  if (status === "pending" || login.sealedKey === null) return { ok: false, error: "authorization_pending" };
  const accessToken = await open(login.sealedKey, deviceCode);
  if (accessToken === null) return { ok: false, error: "expired_token" };
  const delivered = await storage.writeTransaction(async (tx) => {
    if (!(await store.markDelivered(tx, login.idHash))) return false;
    const project = (await findProject(tx, login.projectId))!;
    await recordLoginEvent(
      tx,
      auditActorOf(null, context),
      "cli_session.delivered",
      project,
      login.idHash,
      nowMilliseconds,
      {
        key_id: login.keyId,
        grant: "device_code",
      },
    );
    return true;
  });
  if (!delivered) return { ok: false, error: "invalid_grant" };
  const scopes = login.keyId === null ? [] : ((await findKey(storage.reader, login.keyId))?.scopes ?? []);
  return { ok: true, accessToken, scopes };
}
