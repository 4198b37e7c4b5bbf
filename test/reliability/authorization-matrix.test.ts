/**
 * The authorization matrix, generated from the route table: every route that needs a credential, against every
 * credential that must fail. Each answer must be the expected refusal, documented for that route, and must leave the
 * database exactly as it was. A new route is covered by being in the table.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ALL_ROUTES } from "../../src/app/app.ts";
import { generateSecret } from "../../src/domain/keys/secret.ts";
import { documentedResponses } from "../../src/http/mount.ts";
import type { AnyRoute } from "../../src/http/route.ts";
import { fingerprintPlace } from "../support/engines.ts";
import {
  createKey,
  createProject,
  createTenant,
  mintBrowserSession,
  mintSession,
  startCliLogin,
} from "../support/keys.ts";
import { fillPath } from "../support/paths.ts";
import { createWorld, type World } from "../support/world.ts";

const APP_ORIGIN = "https://app.example.com";
const ALL_SCOPES = ["keys:read", "keys:write", "cli:approve", "runs:read"];

interface Credential {
  name: string;
  headers: (world: World) => Record<string, string>;
  /** The expected refusal by the route's credential kind; undefined: the case does not apply. */
  expect: (route: AnyRoute) => { status: number; code: string } | undefined;
}

let world: World;
const fixtures: Record<string, string> = {};

const databaseFingerprint = () => fingerprintPlace(world.storage);

function pathFor(route: AnyRoute): string {
  return fillPath(route.path, {
    sessionId: fixtures.sessionId!,
    userCode: fixtures.userCode!,
    tenantId: fixtures.tenantId!,
    projectId: fixtures.projectId!,
    keyId: fixtures.targetKeyId!,
  });
}

const sessionAccepting = (route: AnyRoute) => route.credential !== "key";
const required = { status: 401, code: "API_KEY_REQUIRED" };

const credentials: Credential[] = [
  { name: "no credential", headers: () => ({}), expect: () => required },
  {
    name: "a malformed key",
    headers: () => ({ authorization: "Bearer sk_live_not-a-key" }),
    expect: () => ({ status: 401, code: "API_KEY_INVALID" }),
  },
  {
    name: "a well-formed key nobody issued",
    headers: () => ({ authorization: `Bearer ${generateSecret("sk_live_")}` }),
    expect: () => ({ status: 401, code: "API_KEY_INVALID" }),
  },
  {
    name: "another project's key",
    headers: (w) => ({ authorization: `Bearer ${fixtures.foreignKey}`, "x-project-id": w.defaultProjectId }),
    expect: () => ({ status: 401, code: "API_KEY_INVALID" }),
  },
  {
    name: "a key without the scope",
    headers: () => ({ authorization: `Bearer ${fixtures.scopelessKey}` }),
    expect: (route) =>
      route.credential === "root" || route.scopes?.length ? { status: 403, code: "SCOPE_NOT_GRANTED" } : undefined,
  },
  {
    name: "a revoked key",
    headers: () => ({ authorization: `Bearer ${fixtures.revokedKey}` }),
    expect: () => ({ status: 401, code: "API_KEY_REVOKED" }),
  },
  {
    name: "an expired key",
    headers: () => ({ authorization: `Bearer ${fixtures.expiredKey}` }),
    expect: () => ({ status: 401, code: "API_KEY_EXPIRED" }),
  },
  {
    name: "a session token from another origin",
    headers: () => ({ "x-session-token": fixtures.browserToken!, origin: "https://evil.example.net" }),
    expect: (route) => (sessionAccepting(route) ? { status: 403, code: "ORIGIN_NOT_ALLOWED" } : required),
  },
  {
    name: "a session token for another audience",
    headers: (w) => ({ "x-session-token": fixtures.foreignToken!, "x-project-id": w.defaultProjectId }),
    expect: (route) => (sessionAccepting(route) ? { status: 401, code: "SESSION_INVALID" } : required),
  },
  {
    name: "an end-user token on a root route",
    headers: () => ({ "x-session-token": fixtures.endUserToken! }),
    expect: (route) => (route.credential === "root" ? { status: 403, code: "SCOPE_NOT_GRANTED" } : undefined),
  },
];

beforeAll(async () => {
  world = await createWorld();
  await world.call("PATCH", `/v1/projects/${world.defaultProjectId}`, {
    key: world.rootKey,
    body: { allowed_origins: [APP_ORIGIN], cli_default_scopes: ["runs:read"] },
  });
  const full = await createKey(world, { scopes: ALL_SCOPES });
  fixtures.targetKeyId = (await createKey(world, { scopes: ["runs:read"] })).id;
  fixtures.scopelessKey = (await createKey(world, { scopes: ["runs:read"] })).secret;
  const revoked = await createKey(world, { scopes: ALL_SCOPES });
  await world.call("DELETE", `/v1/keys/${revoked.id}`, { key: world.rootKey });
  fixtures.revokedKey = revoked.secret;
  fixtures.expiredKey = (await createKey(world, { scopes: ALL_SCOPES, expires_at: "2026-01-01T00:00:01Z" })).secret;
  fixtures.tenantId = world.defaultTenantId;
  fixtures.projectId = world.defaultProjectId;
  const otherProject = await createProject(world, await createTenant(world));
  const foreign = await createKey(world, { scopes: ALL_SCOPES, project_id: otherProject });
  fixtures.foreignKey = foreign.secret;
  fixtures.foreignToken = await mintSession(world, foreign.secret, { scopes: ALL_SCOPES });
  fixtures.browserToken = await mintBrowserSession(world, full.secret, APP_ORIGIN);
  fixtures.endUserToken = await mintSession(world, full.secret, { scopes: ALL_SCOPES });
  const login = await startCliLogin(world);
  fixtures.sessionId = login.sessionId;
  fixtures.userCode = login.userCode;
  world.clock.advanceSeconds(2); // the expired key is now past its expiry
});

afterAll(() => world.close());

const guarded = ALL_ROUTES.filter((route) => route.credential !== "none");

describe("the authorization matrix", () => {
  test("covers every route that needs a credential", () => {
    expect(guarded.length).toBeGreaterThanOrEqual(25);
  });

  for (const route of guarded) {
    for (const credential of credentials) {
      // Only the combinations that apply become tests (a route without scopes has no "key without the scope").
      const expected = credential.expect(route);
      if (expected === undefined) continue;
      test(`${route.method} ${route.path} × ${credential.name} → ${expected.status} ${expected.code}`, async () => {
        const before = await databaseFingerprint();
        const answer = await world.call(route.method, pathFor(route), {
          headers: credential.headers(world),
          body: route.body ? {} : undefined,
        });
        const code = answer.body?.error?.code ?? answer.body?.code ?? answer.body?.error;
        expect({ status: answer.status, code }).toEqual(expected);
        expect(Object.keys(documentedResponses(route)).map(Number)).toContain(answer.status);
        expect(await databaseFingerprint()).toBe(before);
      });
    }
  }
});
