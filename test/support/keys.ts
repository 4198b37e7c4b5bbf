/** Shortcuts for tests that need keys, tenants and projects to exist; each goes through the public API. */
import { expect } from "bun:test";
import type { World } from "./world.ts";

export interface CreatedKey {
  id: string;
  secret: string;
  body: any;
}

export async function createKey(
  world: World,
  options: { scopes: string[]; name?: string; by?: string; project_id?: string; expires_at?: string; owner?: string },
): Promise<CreatedKey> {
  const { by, ...fields } = options;
  const answer = await world.call("POST", "/v1/keys", {
    key: by ?? world.rootKey,
    body: { name: "test key", ...fields },
  });
  expect(answer.status).toBe(200);
  return { id: answer.body.id, secret: answer.body.secret, body: answer.body };
}

export async function createTenant(world: World, body: Record<string, unknown> = {}): Promise<string> {
  const answer = await world.call("POST", "/v1/tenants", { key: world.rootKey, body: { name: "acme", ...body } });
  expect(answer.status).toBe(200);
  return answer.body.id;
}

export async function createProject(
  world: World,
  tenantId: string,
  body: Record<string, unknown> = {},
): Promise<string> {
  const answer = await world.call("POST", "/v1/projects", {
    key: world.rootKey,
    body: { tenant_id: tenantId, name: "api", ...body },
  });
  expect(answer.status).toBe(200);
  return answer.body.id;
}

/** A tenant with one project and a key holding `scopes` in it. */
export async function createTenantWithKey(world: World, scopes: string[]) {
  const tenantId = await createTenant(world);
  const projectId = await createProject(world, tenantId);
  const key = await createKey(world, { scopes, project_id: projectId });
  return { tenantId, projectId, key };
}

export function expectError(answer: { status: number; body: any; headers: Headers }, status: number, code: string) {
  expect({ status: answer.status, code: answer.body?.error?.code }).toEqual({ status, code });
  expect(answer.body.error.request_id).toBe(answer.headers.get("x-request-id"));
}

/** Mints an end-user session token from `key` and returns it. */
export async function mintSession(world: World, key: string, body: { user_id?: string; scopes?: string[] } = {}) {
  const answer = await world.call("POST", "/v1/sessions", { key, body: { user_id: "user_42", ...body } });
  expect(answer.status).toBe(200);
  return answer.body.token as string;
}

/** Mints a browser-channel token for `origin` from `key` (with the key's scopes but latchkey's own, unless named). */
export async function mintBrowserSession(world: World, key: string, origin: string, body: { scopes?: string[] } = {}) {
  const answer = await world.call("POST", "/api/v1/sessions", { key, headers: { origin }, body });
  expect(answer.status).toBe(201);
  return answer.body.data.sessionToken as string;
}

/** What a CLI does first: start a login session (the body and headers are the CLI's). */
export async function startCliLogin(
  world: World,
  body: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) {
  const answer = await world.call("POST", "/v1/api/auth/sessions", {
    body: { deviceName: "laptop", ...body },
    headers,
  });
  expect(answer.status).toBe(201);
  return answer.body as {
    sessionId: string;
    verificationUrl: string;
    expiresAt: string;
    userCode: string;
    interval: number;
  };
}

/** A key the host app's server approves CLI logins with. */
export async function createApprover(
  world: World,
  scopes: string[] = ["cli:approve", "runs:read", "runs:write"],
  projectId?: string,
) {
  return createKey(world, { scopes, name: "host app", ...(projectId ? { project_id: projectId } : {}) });
}
