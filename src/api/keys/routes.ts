/** Key management within the caller's project (the root key: any project). */

import * as keyChanges from "../../domain/keys/changes.ts";
import { RESERVED_SCOPES } from "../../domain/keys/scopes.ts";
import * as keys from "../../domain/keys/service.ts";
import { keyUsage, periodLengthOf, periodStartOf } from "../../domain/keys/usage.ts";
import { route } from "../../http/route.ts";
import { ErrorResponse, listOf, listResponse, policyFromWire } from "../../http/wire.ts";
import { toIsoString } from "../../lib/clock.ts";
import {
  ApiKey,
  CreatedKey,
  CreateKeyBody,
  KeyListQuery,
  KeyParams,
  KeyUsagePeriod,
  KeyUsageQuery,
  presentKey,
  RevokedKey,
  RotatedKey,
  RotateKeyBody,
  UpdateKeyBody,
  WhoamiBody,
} from "./schemas.ts";

export const keyRoutes = [
  route({
    method: "POST",
    path: "/v1/keys",
    operationId: "createKey",
    summary: "Create an API key with exactly the scopes listed; the secret is returned once.",
    description:
      "A key can only grant scopes it holds itself (403 SCOPE_NOT_GRANTED lists the others), and a bucket within " +
      "its own (403 LIMIT_NOT_GRANTED). A key created through a session token expires no later than the token's " +
      "parent key and is revoked with it (`parent_key_id`).",
    tags: ["keys"],
    credential: "key_or_session",
    scopes: [RESERVED_SCOPES.keysWrite],
    module: "keys",
    body: CreateKeyBody,
    responses: { 200: CreatedKey, 404: ErrorResponse, 409: ErrorResponse },
    handle: async ({ deps, principal, actor, body, nowMilliseconds }) => {
      const issued = await keys.createKey(
        deps,
        principal,
        actor,
        {
          name: body.name,
          scopes: body.scopes,
          expiresAtMs: body.expires_at === undefined ? undefined : Date.parse(body.expires_at),
          projectId: body.project_id,
          owner: body.owner,
          ratelimit: body.ratelimit && policyFromWire(body.ratelimit),
          enabled: body.enabled,
          meta: body.meta,
          ipAllowlist: body.ip_allowlist,
        },
        nowMilliseconds,
      );
      return { ...presentKey(issued.key), secret: issued.secret };
    },
  }),
  route({
    method: "GET",
    path: "/v1/keys",
    operationId: "listKeys",
    summary: "List the project's keys, newest first; secrets are never shown.",
    tags: ["keys"],
    credential: "key_or_session",
    scopes: [RESERVED_SCOPES.keysRead],
    module: "keys",
    query: KeyListQuery,
    responses: { 200: listOf(ApiKey), 404: ErrorResponse },
    handle: async ({ deps, principal, query, nowMilliseconds }) => {
      const page = await keys.listKeys(deps, principal, {
        beforeId: query.cursor,
        limit: query.limit,
        projectId: query.project_id,
        owner: query.owner,
        namePrefix: query.name,
        enabled: query.enabled,
        revoked: query.revoked,
        expired: query.expired,
        createdFromMs: query.created_after === undefined ? undefined : Date.parse(query.created_after),
        createdBeforeMs: query.created_before === undefined ? undefined : Date.parse(query.created_before),
        nowMilliseconds,
      });
      return listResponse(page.items.map(presentKey), page.nextCursor);
    },
  }),
  route({
    method: "GET",
    path: "/v1/keys/:id",
    operationId: "getKey",
    summary: "Read one key of the project; the secret is never shown.",
    tags: ["keys"],
    credential: "key_or_session",
    scopes: [RESERVED_SCOPES.keysRead],
    module: "keys",
    params: KeyParams,
    responses: { 200: ApiKey, 404: ErrorResponse },
    handle: async ({ deps, principal, params }) => presentKey(await keys.getKey(deps, principal, params.id)),
  }),
  route({
    method: "POST",
    path: "/v1/keys/whoami",
    operationId: "findKeyBySecret",
    summary: "Which key is this? The record of the key a secret belongs to (never the secret), for support and leaks.",
    description:
      "Needs keys:read of the key's project (or the root key). A malformed or unknown secret, or a key of another " +
      "project, is 404 alike. A secret retired by rotation still names its key.",
    tags: ["keys"],
    credential: "key_or_session",
    scopes: [RESERVED_SCOPES.keysRead],
    module: "keys",
    body: WhoamiBody,
    responses: { 200: ApiKey, 404: ErrorResponse },
    handle: async ({ deps, principal, body }) => presentKey(await keys.findKeyBySecret(deps, principal, body.key)),
  }),
  route({
    method: "GET",
    path: "/v1/keys/:id/usage",
    operationId: "getKeyUsage",
    summary: "The key's verifications by outcome, per UTC hour or day, including what this node has not written yet.",
    description:
      "Every decision on a request of the key or of its tokens (verify, forward-auth, any route) counts once, as " +
      "VALID or the code that refused it. Periods without a count are left out; kept LATCHKEY_USAGE_RETENTION_DAYS.",
    tags: ["keys"],
    credential: "key_or_session",
    scopes: [RESERVED_SCOPES.keysRead],
    module: "keys",
    params: KeyParams,
    query: KeyUsageQuery,
    responses: { 200: listOf(KeyUsagePeriod), 404: ErrorResponse },
    handle: async ({ deps, principal, params, query, nowMilliseconds }) => {
      const granularity = query.granularity;
      const untilMs = periodStartOf(granularity, query.endMs ?? nowMilliseconds) + periodLengthOf(granularity);
      const defaultFromMs = untilMs - (granularity === "hour" ? 24 : 30) * periodLengthOf(granularity);
      const fromMs = periodStartOf(granularity, query.startMs ?? defaultFromMs);
      const periods = await keyUsage(
        deps,
        principal,
        params.id,
        { granularity, fromMs, untilMs },
        deps.usage.pendingOutcomesOf(params.id),
      );
      const data = periods.map((period) => ({ start: toIsoString(period.startMs), outcomes: period.outcomes }));
      return listResponse(data, null);
    },
  }),
  route({
    method: "PATCH",
    path: "/v1/keys/:id",
    operationId: "updateKey",
    summary:
      "Change a key: name, scopes, owner, expiry, rate-limit policy, enabled, meta; applies on the next request " +
      "everywhere.",
    description:
      "Only the fields sent change. Changing a key needs every scope it holds, new scopes only ones the caller " +
      "holds (403 SCOPE_NOT_GRANTED), a bucket only within the caller's own (403 LIMIT_NOT_GRANTED); `expires_at` " +
      "must be in the future (null: never) and ends no later than the key's parent. The root key's scopes, expiry " +
      "and bucket are fixed and it cannot be disabled (409). Every change is audited with the values before and after.",
    tags: ["keys"],
    credential: "key_or_session",
    scopes: [RESERVED_SCOPES.keysWrite],
    module: "keys",
    params: KeyParams,
    body: UpdateKeyBody,
    responses: { 200: ApiKey, 404: ErrorResponse, 409: ErrorResponse },
    handle: async ({ deps, principal, actor, params, body, nowMilliseconds }) =>
      presentKey(
        await keyChanges.updateKey(
          deps,
          principal,
          actor,
          params.id,
          {
            name: body.name,
            scopes: body.scopes,
            owner: body.owner,
            expiresAtMs: body.expires_at == null ? body.expires_at : Date.parse(body.expires_at),
            ratelimit: body.ratelimit === undefined ? undefined : body.ratelimit && policyFromWire(body.ratelimit),
            enabled: body.enabled,
            meta: body.meta,
            ipAllowlist: body.ip_allowlist,
          },
          nowMilliseconds,
        ),
      ),
  }),
  route({
    method: "DELETE",
    path: "/v1/keys/:id",
    operationId: "revokeKey",
    summary: "Revoke a key; it is refused from the next request on. Repeating the call answers the same.",
    description: "Keys created through the key's session tokens (and through theirs) are revoked with it.",
    tags: ["keys"],
    credential: "key_or_session",
    scopes: [RESERVED_SCOPES.keysWrite],
    module: "keys",
    params: KeyParams,
    responses: { 200: RevokedKey, 404: ErrorResponse, 409: ErrorResponse },
    handle: async ({ deps, principal, actor, params, nowMilliseconds }) => {
      const revoked = await keys.revokeKey(deps, principal, actor, params.id, nowMilliseconds);
      return { id: revoked.id, object: "api_key" as const, revoked: true as const };
    },
  }),
  route({
    method: "POST",
    path: "/v1/keys/:id/rotate",
    operationId: "rotateKey",
    summary: "Give the key a new secret; the old one works for grace_seconds more, then answers API_KEY_REVOKED.",
    description: "Rotation hands out a working secret, so the caller must hold every scope of the key.",
    tags: ["keys"],
    credential: "key_or_session",
    scopes: [RESERVED_SCOPES.keysWrite],
    module: "keys",
    params: KeyParams,
    body: RotateKeyBody,
    responses: { 200: RotatedKey, 404: ErrorResponse, 409: ErrorResponse },
    handle: async ({ deps, principal, actor, params, body, nowMilliseconds }) => {
      const rotated = await keyChanges.rotateKey(
        deps,
        principal,
        actor,
        params.id,
        body.grace_seconds,
        nowMilliseconds,
      );
      return {
        ...presentKey(rotated.key),
        secret: rotated.secret,
        previous_secret_expires_at: toIsoString(rotated.previousSecretRetiresAtMs),
      };
    },
  }),
];
