/** Session tokens for end users and browsers, the JWKS that verifies them, and signing-key rotation. */
import type { z } from "zod";
import { mintBrowserSession, mintEndUserSession } from "../../domain/sessions/service.ts";
import { type PublishedSigningKey, rotateSigningKey, signingKeyStatus } from "../../domain/sessions/signing-keys.ts";
import { route } from "../../http/route.ts";
import { listOf, listResponse } from "../../http/wire.ts";
import { toIsoString, toIsoStringOrNull } from "../../lib/clock.ts";
import { AppError } from "../../lib/errors.ts";
import { DEVICE_AUTHORIZATION_PATH, TOKEN_PATH } from "../cli-login/routes.ts";
import {
  BrowserSession,
  CreateBrowserSessionBody,
  CreateSessionBody,
  Discovery,
  Jwks,
  RotateSigningKeyBody,
  Session,
  SigningKey,
} from "./schemas.ts";

const JWKS_PATH = "/.well-known/jwks.json";
const JWKS_MAX_AGE_SECONDS = 60;
const DISCOVERY_MAX_AGE_SECONDS = 300;
const DEVICE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code";

function presentSigningKey(key: PublishedSigningKey, nowMilliseconds: number): z.input<typeof SigningKey> {
  return {
    kid: key.kid,
    object: "signing_key",
    status: signingKeyStatus(key, nowMilliseconds),
    activates_at: toIsoString(key.activatesAtMs),
    retires_at: toIsoStringOrNull(key.retiresAtMs),
    unpublished_at: toIsoStringOrNull(key.unpublishedAtMs),
  };
}

export const sessionRoutes = [
  route({
    method: "POST",
    path: "/v1/sessions",
    operationId: "createSession",
    summary: "Mint a short-lived session token for one end user, so the secret key never reaches their client.",
    description:
      "Scopes must be a subset of the key's (403 SCOPE_NOT_GRANTED names the others); by default the key's `*:read` " +
      "scopes, never keys:read: latchkey's own scopes (keys:read, keys:write, cli:approve) only when named. " +
      "Lifetime: the project's `session_ttl_seconds` (15 minutes by default). The token dies with its key.",
    tags: ["sessions"],
    credential: "key",
    module: "sessions",
    body: CreateSessionBody,
    responses: { 200: Session },
    handle: async ({ deps, principal, body, nowMilliseconds }) => {
      const session = await mintEndUserSession(
        deps,
        principal,
        { userId: body.user_id, scopes: body.scopes },
        nowMilliseconds,
      );
      return {
        object: "session" as const,
        token: session.token,
        expires_at: toIsoString(session.expiresAtMs),
        scopes: session.scopes,
      };
    },
  }),
  route({
    method: "POST",
    path: "/api/v1/sessions",
    operationId: "createBrowserSession",
    summary: "The browser channel: exchange the key and the page's Origin for a one-hour token bound to both.",
    description:
      "The Origin must be one of the project's `allowed_origins` (403 ORIGIN_NOT_ALLOWED otherwise; 400 without " +
      "one). The token carries the key's scopes unless fewer are asked for, but latchkey's own (keys:read, " +
      "keys:write, cli:approve) only when named. " +
      "Send the token as X-Session-Token on every request that writes.",
    tags: ["sessions"],
    credential: "key",
    module: "sessions",
    browserChannel: true,
    headers: ["Origin"],
    body: CreateBrowserSessionBody,
    responses: { 201: BrowserSession },
    handle: async ({ deps, principal, body, request, nowMilliseconds }) => {
      const origin = request.headers.get("origin");
      if (origin === null) {
        throw new AppError("VALIDATION_FAILED", {
          message: "The browser channel needs the page's Origin header.",
          details: [{ path: "Origin", message: "is required" }],
        });
      }
      const session = await mintBrowserSession(deps, principal, origin, { scopes: body.scopes }, nowMilliseconds);
      return { data: { sessionToken: session.token, expiresAt: toIsoString(session.expiresAtMs) } };
    },
  }),
  route({
    method: "GET",
    path: JWKS_PATH,
    operationId: "getJwks",
    summary: "The public keys that verify session tokens (Ed25519, with kid, alg and use); cacheable for a minute.",
    tags: ["sessions"],
    credential: "none",
    responses: { 200: Jwks },
    handle: async ({ deps, nowMilliseconds, responseHeaders }) => {
      responseHeaders["cache-control"] = `public, max-age=${JWKS_MAX_AGE_SECONDS}`;
      return { keys: (await deps.sessions.ring.jwks(nowMilliseconds)) as z.input<typeof Jwks>["keys"] };
    },
  }),
  route({
    method: "GET",
    path: "/.well-known/openid-configuration",
    operationId: "getDiscovery",
    summary: "Where to verify session tokens: the issuer they carry, the JWKS, and the device grant's endpoints.",
    description:
      "An offline verifier reads `issuer` here rather than assuming it: it is the public URL, which need not be the " +
      "address the verifier reaches latchkey at (127.0.0.1 beside a sidecar, localhost in a token).",
    tags: ["sessions"],
    credential: "none",
    responses: { 200: Discovery },
    handle: ({ deps, responseHeaders }) => {
      responseHeaders["cache-control"] = `public, max-age=${DISCOVERY_MAX_AGE_SECONDS}`;
      const issuer = deps.settings.publicUrl;
      return {
        issuer,
        jwks_uri: issuer + JWKS_PATH,
        device_authorization_endpoint: issuer + DEVICE_AUTHORIZATION_PATH,
        token_endpoint: issuer + TOKEN_PATH,
        grant_types_supported: [DEVICE_GRANT_TYPE],
        token_endpoint_auth_methods_supported: ["none"],
      };
    },
  }),
  route({
    method: "GET",
    path: "/v1/signing-keys",
    operationId: "listSigningKeys",
    summary: "The published signing keys with their schedule (pending, active, retired).",
    tags: ["sessions"],
    credential: "root",
    responses: { 200: listOf(SigningKey) },
    handle: async ({ deps, nowMilliseconds }) => {
      const schedule = await deps.sessions.ring.schedule(nowMilliseconds);
      return listResponse(
        schedule.map((key) => presentSigningKey(key, nowMilliseconds)),
        null,
      );
    },
  }),
  route({
    method: "POST",
    path: "/v1/signing-keys/rotate",
    operationId: "rotateSigningKey",
    summary: "Add a new signing key; it is published at once and signs after activate_in_seconds.",
    description:
      "The previous key stops signing when the new one activates and stays in the JWKS until every token it signed " +
      "has expired.",
    tags: ["sessions"],
    credential: "root",
    body: RotateSigningKeyBody,
    responses: { 200: SigningKey },
    handle: async ({ deps, actor, body, nowMilliseconds }) => {
      const rotation = await rotateSigningKey(
        deps.storage,
        deps.sessions.ring,
        deps.sessions.masterKey,
        actor,
        body.activate_in_seconds,
        nowMilliseconds,
      );
      const schedule = await deps.sessions.ring.schedule(nowMilliseconds);
      return presentSigningKey(schedule.find((key) => key.kid === rotation!.kid)!, nowMilliseconds);
    },
  }),
];
