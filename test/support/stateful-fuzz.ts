/**
 * Stateful fuzzing: model-based sequences of what users do, where a value one route accepts flows into another route's
 * answer. fast-check generates command sequences that create keys with valid but odd fields (Unicode names and owners,
 * maximum lengths, edge scopes, expiries a second away, two projects), mint session tokens from them for odd end-user
 * ids, use keys and tokens on verification, forward-auth and every other route that takes a credential, rotate,
 * revoke, change and delete tenants and projects, and let time pass. After every step:
 *
 *   - the answer keeps the contract (contract.ts: documented status, no 5xx, schema, request id, valid headers);
 *   - the model's view of what is allowed matches the server's: the same refusal code in the documented decision
 *     order, or an admission with the same identity (identity headers decoded back to the ids the model holds).
 *
 * Used by test/reliability/stateful-fuzz.test.ts (CI, a bounded number of sequences) and by
 * `bun run fuzz -- --stateful --runs N`.
 */
import fc from "fast-check";
import { ALL_ROUTES } from "../../src/app/app.ts";
import { secretVersionOf } from "../../src/auth/principal.ts";
import { hashSecret } from "../../src/domain/keys/secret.ts";
import type { AnyRoute } from "../../src/http/route.ts";
import { checkAnswer, loadOperations, type Operation } from "./contract.ts";
import { createProject, createTenant } from "./keys.ts";
import { fillPath } from "./paths.ts";
import { type Answer, createWorld, type World } from "./world.ts";

interface ModelSecret {
  secret: string;
  version: string;
  retiresAtMs: number | null;
}

interface ModelKey {
  id: string;
  projectId: string;
  scopes: string[];
  owner: string | null;
  expiresAtMs: number | null;
  revoked: boolean;
  secrets: ModelSecret[];
}

interface ModelToken {
  token: string;
  keyId: string;
  secretVersion: string;
  scopes: string[];
  subject: string;
  expiresAtSeconds: number;
}

interface ModelTenant {
  id: string;
  status: "active" | "suspended";
  subscription: "active" | "past_due" | "cancelled";
  modules: string[];
  deleted: boolean;
}

interface Model {
  nowMs: number;
  keys: ModelKey[];
  tokens: ModelToken[];
  tenants: ModelTenant[];
  /** Project id → its tenant's index in `tenants`. */
  projects: Map<string, number>;
  deletedProjects: Set<string>;
}

/** Deleting projects revokes every key of them; they take no keys again. */
function deleteProjectsInModel(model: Model, projectIds: readonly string[]): void {
  for (const projectId of projectIds) model.deletedProjects.add(projectId);
  for (const key of model.keys) if (projectIds.includes(key.projectId)) key.revoked = true;
}

interface Real {
  world: World;
  operations: Map<string, Operation>;
  /** Requests sent, for the report. */
  requests: { count: number };
}

/** A presented credential, as the model sees it. */
type Credential =
  | { kind: "key"; key: ModelKey; secret: ModelSecret }
  | { kind: "token"; token: ModelToken }
  | { kind: "root"; secret: string };

const ALL_MODULES = ["keys", "sessions", "cli_login", "verify"] as const;
const SESSION_TTL_SECONDS = 900;
const CREDENTIAL_CODES = /^(API_KEY_|SESSION_|TENANT_|SUBSCRIPTION_|MODULE_NOT_ENABLED|ORIGIN_NOT_ALLOWED)/;

// ---------------------------------------------------------------------------------------------------------------
// Valid but odd input

/**
 * Text the API accepts as a display string: 1 to max UTF-16 units, no control characters and no bidirectional
 * controls, well-formed.
 */
function oddText(maxLength: number): fc.Arbitrary<string> {
  return fc
    .oneof(
      fc.string({ unit: "grapheme", minLength: 1, maxLength: 24 }),
      fc.constantFrom(
        "日本",
        "zoë",
        "🦊 fox",
        "a\u2028b",
        "100%",
        " leading",
        "trailing ",
        "%41",
        "ünïcødé",
        "מפתח",
        "\u200fmarked",
      ),
      fc.constant("x".repeat(maxLength)),
      fc.constant("é".repeat(maxLength)),
      fc.constant("😀".repeat(Math.floor(maxLength / 2))),
    )
    .filter(
      (text) =>
        text.length >= 1 &&
        text.length <= maxLength &&
        text.isWellFormed() &&
        /^[^\p{Cc}\u202a-\u202e\u2066-\u2069]*$/u.test(text),
    );
}

const LONGEST_SCOPE = `${"r".repeat(64)}:${"w".repeat(64)}`;
const SCOPE_POOL = [
  "runs:read",
  "runs:write",
  "a:b",
  "0:0",
  "billing.v2:read-all",
  "keys:read",
  "keys:write",
  "cli:approve",
  LONGEST_SCOPE,
];
const scopeSet = fc.oneof(
  fc.uniqueArray(fc.constantFrom(...SCOPE_POOL), { minLength: 1, maxLength: SCOPE_POOL.length }),
  fc.constant(Array.from({ length: 64 }, (_, index) => `r${index}:read`)),
);

// ---------------------------------------------------------------------------------------------------------------
// The model's decision, in the documented order

interface Requirement {
  credential: AnyRoute["credential"];
  module?: string;
  scopes: readonly string[];
  dataPlane: boolean;
}

type Decision = { ok: true; keyId: string; subject: string; scopes: string[] } | { ok: false; code: string };

function secretRefusal(model: Model, key: ModelKey, secret: ModelSecret): string | null {
  if (key.revoked) return "API_KEY_REVOKED";
  if (secret.retiresAtMs !== null && secret.retiresAtMs <= model.nowMs) return "API_KEY_REVOKED";
  if (key.expiresAtMs !== null && key.expiresAtMs <= model.nowMs) return "API_KEY_EXPIRED";
  return null;
}

function tenantRefusal(model: Model, key: ModelKey, modules: readonly (string | undefined)[]): string | null {
  const tenant = model.tenants[model.projects.get(key.projectId)!]!;
  if (tenant.status === "suspended") return "TENANT_SUSPENDED";
  if (tenant.subscription === "cancelled") return "SUBSCRIPTION_CANCELLED";
  if (tenant.subscription === "past_due") return "SUBSCRIPTION_PAST_DUE";
  for (const module of modules)
    if (module !== undefined && !tenant.modules.includes(module)) return "MODULE_NOT_ENABLED";
  return null;
}

function decide(model: Model, credential: Credential, requirement: Requirement): Decision {
  if (credential.kind === "root") {
    if (requirement.dataPlane) return { ok: false, code: "ROOT_KEY_NOT_ALLOWED" };
    return { ok: true, keyId: "root", subject: "root", scopes: [] };
  }
  if (credential.kind === "token") {
    if (requirement.credential === "key") return { ok: false, code: "API_KEY_REQUIRED" };
    const { token } = credential;
    if (token.expiresAtSeconds * 1000 <= model.nowMs) return { ok: false, code: "SESSION_EXPIRED" };
    const key = model.keys.find((candidate) => candidate.id === token.keyId)!;
    const secret = key.secrets.find((candidate) => candidate.version === token.secretVersion)!;
    const refusal = secretRefusal(model, key, secret) ?? tenantRefusal(model, key, ["sessions", requirement.module]);
    if (refusal) return { ok: false, code: refusal };
    if (requirement.credential === "root") return { ok: false, code: "SCOPE_NOT_GRANTED" };
    const scopes = token.scopes.filter((scope) => key.scopes.includes(scope));
    if (!requirement.scopes.every((scope) => scopes.includes(scope))) return { ok: false, code: "SCOPE_NOT_GRANTED" };
    return { ok: true, keyId: key.id, subject: token.subject, scopes };
  }
  const { key, secret } = credential;
  const refusal = secretRefusal(model, key, secret) ?? tenantRefusal(model, key, [requirement.module]);
  if (refusal) return { ok: false, code: refusal };
  if (!requirement.scopes.every((scope) => key.scopes.includes(scope))) return { ok: false, code: "SCOPE_NOT_GRANTED" };
  if (requirement.credential === "root") return { ok: false, code: "SCOPE_NOT_GRANTED" };
  return { ok: true, keyId: key.id, subject: key.id, scopes: key.scopes };
}

// ---------------------------------------------------------------------------------------------------------------
// Talking to the server

function credentialsOf(model: Model, rootKey: string): Credential[] {
  const credentials: Credential[] = [{ kind: "root", secret: rootKey }];
  for (const key of model.keys) for (const secret of key.secrets) credentials.push({ kind: "key", key, secret });
  for (const token of model.tokens) credentials.push({ kind: "token", token });
  return credentials;
}

function headersFor(credential: Credential): Record<string, string> {
  if (credential.kind === "token") return { "x-session-token": credential.token.token };
  return { authorization: `Bearer ${credential.kind === "root" ? credential.secret : credential.secret.secret}` };
}

function describeCredential(credential: Credential): string {
  if (credential.kind === "root") return "the root key";
  if (credential.kind === "token")
    return `a token of ${credential.token.keyId} for ${JSON.stringify(credential.token.subject)}`;
  return `key ${credential.key.id} (secret ${credential.secret.version})`;
}

async function send(
  real: Real,
  operation: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: unknown } = {},
): Promise<Answer> {
  const answer = await real.world.call(method, path, options);
  real.requests.count++;
  const documented = real.operations.get(operation);
  if (!documented) throw new Error(`no such operation in the document: ${operation}`);
  checkAnswer(documented, `${method} ${path.slice(0, 160)}`, answer);
  return answer;
}

function expectDecision(answer: Answer, decision: Decision, where: string): void {
  if (decision.ok) {
    if (answer.status !== 200)
      throw new Error(`${where}: the model allows, the server answered ${answer.status} ${answer.text.slice(0, 200)}`);
    return;
  }
  const code = answer.body?.error?.code;
  if (code !== decision.code) {
    throw new Error(
      `${where}: the model refuses with ${decision.code}, the server answered ${answer.status} ` +
        `${code ?? answer.text.slice(0, 200)}`,
    );
  }
}

function pick<T>(items: readonly T[], index: number): T {
  return items[index % items.length]!;
}

// ---------------------------------------------------------------------------------------------------------------
// Commands

type Command = fc.AsyncCommand<Model, Real>;

class CreateKey implements Command {
  constructor(
    readonly input: {
      name: string;
      scopes: string[];
      owner: string | null;
      expiresInMs: number | null;
      projectIndex: number;
    },
  ) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const projectId = pick([...model.projects.keys()], this.input.projectIndex);
    const body: Record<string, unknown> = { name: this.input.name, scopes: this.input.scopes, project_id: projectId };
    if (this.input.owner !== null) body.owner = this.input.owner;
    const expiresAtMs = this.input.expiresInMs === null ? null : model.nowMs + this.input.expiresInMs;
    if (expiresAtMs !== null) body.expires_at = new Date(expiresAtMs).toISOString();
    const answer = await send(real, "POST /v1/keys", "POST", "/v1/keys", {
      headers: headersFor({ kind: "root", secret: real.world.rootKey }),
      body,
    });
    if (model.deletedProjects.has(projectId)) {
      if (answer.status !== 409) throw new Error(`creating a key in deleted project ${projectId}: ${answer.status}`);
      return;
    }
    if (answer.status !== 200)
      throw new Error(`creating a key with valid odd fields: ${answer.status} ${answer.text.slice(0, 300)}`);
    if (answer.body.name !== this.input.name || answer.body.owner !== this.input.owner) {
      throw new Error("a created key's name or owner came back changed");
    }
    const secret = answer.body.secret as string;
    model.keys.push({
      id: answer.body.id,
      projectId,
      scopes: [...this.input.scopes],
      owner: this.input.owner,
      expiresAtMs,
      revoked: false,
      secrets: [{ secret, version: secretVersionOf(hashSecret(secret)), retiresAtMs: null }],
    });
  }
  toString = () => `CreateKey(${JSON.stringify(this.input)})`;
}

class MintToken implements Command {
  constructor(readonly input: { credentialIndex: number; userId: string; scopes: string[] | null }) {}
  check = (model: Model) => model.keys.length > 0;
  async run(model: Model, real: Real) {
    const secrets = model.keys.flatMap((key) => key.secrets.map((secret) => ({ key, secret })));
    const { key, secret } = pick(secrets, this.input.credentialIndex);
    const body: Record<string, unknown> = { user_id: this.input.userId };
    if (this.input.scopes !== null) body.scopes = this.input.scopes;
    const answer = await send(real, "POST /v1/sessions", "POST", "/v1/sessions", {
      headers: headersFor({ kind: "key", key, secret }),
      body,
    });
    const minter = describeCredential({ kind: "key", key, secret });
    const where = `minting for ${JSON.stringify(this.input.userId)} with ${minter}`;
    const decision = decide(
      model,
      { kind: "key", key, secret },
      { credential: "key", module: "sessions", scopes: [], dataPlane: false },
    );
    if (!decision.ok) return expectDecision(answer, decision, where);
    const scopes =
      this.input.scopes === null
        ? // latchkey's own scopes only when named: keys:read is no default, although it ends in :read.
          key.scopes.filter((scope) => scope.endsWith(":read") && scope !== "keys:read")
        : [...new Set(this.input.scopes)];
    if (!scopes.every((scope) => key.scopes.includes(scope)))
      return expectDecision(answer, { ok: false, code: "SCOPE_NOT_GRANTED" }, where);
    expectDecision(answer, decision, where);
    const limits = [Math.floor(model.nowMs / 1000) + SESSION_TTL_SECONDS];
    if (key.expiresAtMs !== null) limits.push(Math.floor(key.expiresAtMs / 1000));
    if (secret.retiresAtMs !== null) limits.push(Math.floor(secret.retiresAtMs / 1000));
    const expiresAtSeconds = Math.min(...limits);
    if (answer.body.expires_at !== new Date(expiresAtSeconds * 1000).toISOString()) {
      throw new Error(
        `${where}: expires_at ${answer.body.expires_at}, the model says ` +
          `${new Date(expiresAtSeconds * 1000).toISOString()}`,
      );
    }
    model.tokens.push({
      token: answer.body.token,
      keyId: key.id,
      secretVersion: secret.version,
      scopes,
      subject: this.input.userId,
      expiresAtSeconds,
    });
  }
  toString = () => `MintToken(${JSON.stringify(this.input)})`;
}

class ForwardAuth implements Command {
  constructor(readonly input: { credentialIndex: number; scopes: string[]; viaHeader: boolean; below: boolean }) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const credential = pick(credentialsOf(model, real.world.rootKey), this.input.credentialIndex);
    const headers = headersFor(credential);
    let path = this.input.below ? "/v1/authz/some/path" : "/v1/authz";
    if (this.input.viaHeader) headers["x-latchkey-required-scopes"] = this.input.scopes.join(",");
    else if (this.input.scopes.length > 0) path += `?scopes=${this.input.scopes.join(",")}`;
    const answer = await send(real, this.input.below ? "GET /v1/authz/{path}" : "GET /v1/authz", "GET", path, {
      headers,
    });
    const decision = decide(model, credential, {
      credential: "forwarded",
      module: "verify",
      scopes: this.input.scopes,
      dataPlane: true,
    });
    const asked = this.input.scopes.join(",") || "no scopes";
    const where = `forward-auth with ${describeCredential(credential)} for ${asked}`;
    expectDecision(answer, decision, where);
    if (!decision.ok) {
      if (answer.headers.get("x-latchkey-error") !== decision.code)
        throw new Error(`${where}: X-Latchkey-Error missing or wrong`);
      return;
    }
    const decoded = (name: string) => decodeURIComponent(answer.headers.get(name) ?? "");
    if (decoded("x-latchkey-key-id") !== decision.keyId || decoded("x-latchkey-subject") !== decision.subject) {
      throw new Error(
        `${where}: identity headers say ${decoded("x-latchkey-key-id")} / ${decoded("x-latchkey-subject")}`,
      );
    }
    if (decoded("x-latchkey-scopes") !== decision.scopes.join(","))
      throw new Error(`${where}: X-Latchkey-Scopes differs from the model`);
  }
  toString = () => `ForwardAuth(${JSON.stringify(this.input)})`;
}

class Verify implements Command {
  constructor(readonly input: { credentialIndex: number; scopes: string[] }) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const credential = pick(credentialsOf(model, real.world.rootKey), this.input.credentialIndex);
    const body =
      credential.kind === "token"
        ? { token: credential.token.token, scopes: this.input.scopes }
        : { key: credential.kind === "root" ? credential.secret : credential.secret.secret, scopes: this.input.scopes };
    const answer = await send(real, "POST /v1/keys/verify", "POST", "/v1/keys/verify", { body });
    const requirement = {
      credential: "key_or_session" as const,
      module: "verify",
      scopes: this.input.scopes,
      dataPlane: true,
    };
    const decision = decide(model, credential, requirement);
    const where = `verify of ${describeCredential(credential)}`;
    const expected = decision.ok ? "VALID" : decision.code;
    if (answer.status !== 200 || answer.body.code !== expected || answer.body.valid !== decision.ok) {
      throw new Error(`${where}: the model says ${expected}, the server ${answer.status} ${answer.body?.code}`);
    }
    if (
      decision.ok &&
      (answer.body.key_id !== decision.keyId || answer.body.scopes.join(",") !== decision.scopes.join(","))
    ) {
      throw new Error(`${where}: identity differs from the model`);
    }
  }
  toString = () => `Verify(${JSON.stringify(this.input)})`;
}

/** Any route that takes a credential, with an empty body: the credential checks must answer as the model says. */
class UseOnRoute implements Command {
  constructor(readonly input: { routeIndex: number; credentialIndex: number }) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const routes = ALL_ROUTES.filter(
      (route) => route.credential === "key" || route.credential === "key_or_session" || route.credential === "root",
    );
    const route = pick(routes, this.input.routeIndex);
    const credential = pick(credentialsOf(model, real.world.rootKey), this.input.credentialIndex);
    const someKey = model.keys[0]?.id ?? "key_0000000000000000000000";
    const tenantIndex = this.input.routeIndex % model.tenants.length;
    const someTenant = model.tenants[tenantIndex]!.id;
    const someProject = [...model.projects.keys()][this.input.routeIndex % model.projects.size]!;
    const path = fillPath(route.path, {
      sessionId: "cls_000000000000000000000000000000000",
      userCode: "BBBB-BBBB",
      tenantId: someTenant,
      projectId: someProject,
      keyId: someKey,
    });
    const hasBody = route.method !== "GET" && route.method !== "DELETE";
    const answer = await send(
      real,
      `${route.method} ${route.path.replace(/:([A-Za-z]+)/g, "{$1}")}`,
      route.method,
      path,
      {
        headers: headersFor(credential),
        body: hasBody ? {} : undefined,
      },
    );
    const decision = decide(model, credential, {
      credential: route.credential,
      module: route.module,
      scopes: route.scopes ?? [],
      dataPlane: false,
    });
    const where = `${route.method} ${route.path} with ${describeCredential(credential)}`;
    if (!decision.ok) return expectDecision(answer, decision, where);
    const code: string | undefined = answer.body?.error?.code ?? answer.body?.code;
    if (code !== undefined && CREDENTIAL_CODES.test(code)) {
      throw new Error(`${where}: the model admits the credential, the server refused it with ${code}`);
    }
    // Some of these routes change what the model holds when they succeed (an empty body rotates with no grace).
    if (answer.status !== 200) return;
    const target = model.keys.find((key) => key.id === someKey);
    if (target && route.operationId === "revokeKey") target.revoked = true;
    if (target && route.operationId === "rotateKey") rotateInModel(model, target, 0, answer.body.secret);
    if (route.operationId === "deleteProject") deleteProjectsInModel(model, [someProject]);
    if (route.operationId === "deleteTenant") {
      model.tenants[tenantIndex]!.deleted = true;
      const ofTenant = [...model.projects].filter(([, index]) => index === tenantIndex).map(([id]) => id);
      deleteProjectsInModel(model, ofTenant);
    }
  }
  toString = () => `UseOnRoute(${JSON.stringify(this.input)})`;
}

class RotateKey implements Command {
  constructor(readonly input: { keyIndex: number; graceSeconds: number }) {}
  check = (model: Model) => model.keys.length > 0;
  async run(model: Model, real: Real) {
    const key = pick(model.keys, this.input.keyIndex);
    const answer = await send(real, "POST /v1/keys/{id}/rotate", "POST", `/v1/keys/${key.id}/rotate`, {
      headers: headersFor({ kind: "root", secret: real.world.rootKey }),
      body: { grace_seconds: this.input.graceSeconds },
    });
    const dead = key.revoked || (key.expiresAtMs !== null && key.expiresAtMs <= model.nowMs);
    if (dead) {
      if (answer.status !== 409) throw new Error(`rotating dead key ${key.id}: ${answer.status}`);
      return;
    }
    if (answer.status !== 200) throw new Error(`rotating ${key.id}: ${answer.status} ${answer.text.slice(0, 200)}`);
    rotateInModel(model, key, this.input.graceSeconds, answer.body.secret);
  }
  toString = () => `RotateKey(${JSON.stringify(this.input)})`;
}

/** Every secret still working retires at the end of the grace (or sooner, if it already retires sooner). */
function rotateInModel(model: Model, key: ModelKey, graceSeconds: number, newSecret: string): void {
  const retiresAtMs = model.nowMs + graceSeconds * 1000;
  for (const secret of key.secrets) {
    if (secret.retiresAtMs === null || secret.retiresAtMs > model.nowMs)
      secret.retiresAtMs = Math.min(secret.retiresAtMs ?? retiresAtMs, retiresAtMs);
  }
  key.secrets.push({ secret: newSecret, version: secretVersionOf(hashSecret(newSecret)), retiresAtMs: null });
}

class RevokeKey implements Command {
  constructor(readonly input: { keyIndex: number }) {}
  check = (model: Model) => model.keys.length > 0;
  async run(model: Model, real: Real) {
    const key = pick(model.keys, this.input.keyIndex);
    const answer = await send(real, "DELETE /v1/keys/{id}", "DELETE", `/v1/keys/${key.id}`, {
      headers: headersFor({ kind: "root", secret: real.world.rootKey }),
    });
    if (answer.status !== 200) throw new Error(`revoking ${key.id}: ${answer.status}`);
    key.revoked = true;
  }
  toString = () => `RevokeKey(${JSON.stringify(this.input)})`;
}

class ChangeTenant implements Command {
  constructor(
    readonly input: {
      tenantIndex: number;
      status?: ModelTenant["status"];
      subscription?: ModelTenant["subscription"];
      modules?: string[];
    },
  ) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const tenant = pick(model.tenants, this.input.tenantIndex);
    const { tenantIndex: _, ...body } = this.input;
    const answer = await send(real, "PATCH /v1/tenants/{id}", "PATCH", `/v1/tenants/${tenant.id}`, {
      headers: headersFor({ kind: "root", secret: real.world.rootKey }),
      body,
    });
    if (tenant.deleted) {
      if (answer.status !== 409) throw new Error(`changing deleted tenant ${tenant.id}: ${answer.status}`);
      return;
    }
    if (answer.status !== 200)
      throw new Error(`changing tenant ${tenant.id}: ${answer.status} ${answer.text.slice(0, 200)}`);
    if (body.status) tenant.status = body.status;
    if (body.subscription) tenant.subscription = body.subscription;
    if (body.modules) tenant.modules = ALL_MODULES.filter((module) => body.modules!.includes(module));
  }
  toString = () => `ChangeTenant(${JSON.stringify(this.input)})`;
}

class PassTime implements Command {
  constructor(readonly milliseconds: number) {}
  check = () => true;
  async run(model: Model, real: Real) {
    real.world.clock.advanceMilliseconds(this.milliseconds);
    model.nowMs += this.milliseconds;
  }
  toString = () => `PassTime(${this.milliseconds})`;
}

const requiredScopes = fc.uniqueArray(fc.constantFrom(...SCOPE_POOL, "r3:read", "r63:read"), { maxLength: 3 });
const index = fc.nat({ max: 10_000 });

const commands = [
  fc
    .record({
      name: oddText(200),
      scopes: scopeSet,
      owner: fc.option(oddText(256), { nil: null }),
      expiresInMs: fc.option(fc.constantFrom(1000, 1500, 5000, 60_000, 3_600_000), { nil: null }),
      projectIndex: index,
    })
    .map((input) => new CreateKey(input)),
  fc
    .record({
      credentialIndex: index,
      userId: oddText(256),
      scopes: fc.option(fc.uniqueArray(fc.constantFrom(...SCOPE_POOL), { maxLength: 3 }), { nil: null }),
    })
    .map((input) => new MintToken(input)),
  fc
    .record({ credentialIndex: index, scopes: requiredScopes, viaHeader: fc.boolean(), below: fc.boolean() })
    .map((input) => new ForwardAuth(input)),
  fc.record({ credentialIndex: index, scopes: requiredScopes }).map((input) => new Verify(input)),
  fc.record({ routeIndex: index, credentialIndex: index }).map((input) => new UseOnRoute(input)),
  fc.record({ keyIndex: index, graceSeconds: fc.constantFrom(0, 1, 5, 30) }).map((input) => new RotateKey(input)),
  fc.record({ keyIndex: index }).map((input) => new RevokeKey(input)),
  fc
    .record(
      {
        tenantIndex: index,
        status: fc.constantFrom("active" as const, "suspended" as const),
        subscription: fc.constantFrom("active" as const, "past_due" as const, "cancelled" as const),
        modules: fc.subarray([...ALL_MODULES]),
      },
      { requiredKeys: ["tenantIndex"] },
    )
    .map((input) => new ChangeTenant(input)),
  fc.constantFrom(1, 500, 999, 1000, 1500, 30_000, 900_000).map((milliseconds) => new PassTime(milliseconds)),
];

export interface StatefulFuzzReport {
  sequences: number;
  requests: number;
  seed: number;
}

/** A world with two tenants, each with a project whose bucket never runs out (buckets are not what is modelled). */
async function freshWorld(operations: Map<string, Operation> | null): Promise<{ model: Model; real: Real }> {
  const world = await createWorld();
  const generous = { ratelimit: { limit: 1_000_000, window_seconds: 1 } };
  await world.call("PATCH", `/v1/projects/${world.defaultProjectId}`, { key: world.rootKey, body: generous });
  const tenantId = await createTenant(world);
  const projectId = await createProject(world, tenantId, generous);
  const model: Model = {
    nowMs: world.clock.nowMilliseconds(),
    keys: [],
    tokens: [],
    tenants: [
      {
        id: world.defaultTenantId,
        status: "active",
        subscription: "active",
        modules: [...ALL_MODULES],
        deleted: false,
      },
      { id: tenantId, status: "active", subscription: "active", modules: [...ALL_MODULES], deleted: false },
    ],
    projects: new Map([
      [world.defaultProjectId, 0],
      [projectId, 1],
    ]),
    deletedProjects: new Set(),
  };
  // The document is the same for every world; its validators are compiled once.
  operations ??= new Map(
    (await loadOperations(world)).map((operation) => [`${operation.method} ${operation.path}`, operation]),
  );
  return { model, real: { world, operations, requests: { count: 0 } } };
}

export async function runStatefulFuzz(options: {
  runs: number;
  maxCommands?: number;
  seed?: number;
  path?: string;
}): Promise<StatefulFuzzReport> {
  const seed = options.seed ?? Date.now() % 2_147_483_647;
  let sequences = 0;
  let requests = 0;
  let operations: Map<string, Operation> | null = null;
  await fc.assert(
    fc.asyncProperty(
      fc.commands(commands, { maxCommands: options.maxCommands ?? 50, size: "max" }),
      async (sequence) => {
        const setup = await freshWorld(operations);
        operations = setup.real.operations;
        try {
          await fc.asyncModelRun(() => setup, sequence);
        } finally {
          sequences++;
          requests += setup.real.requests.count;
          await setup.real.world.close();
        }
      },
    ),
    // Shrinking stays on: a failing sequence is replayed shorter until each step left in it matters.
    { numRuns: options.runs, seed, path: options.path },
  );
  return { sequences, requests, seed };
}
