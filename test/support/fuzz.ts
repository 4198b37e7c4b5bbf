/**
 * Bad input from the contract: walks /openapi.json and, for every operation, sends requests fast-check generates
 * from it: wrong types, missing and extra fields, huge, Unicode and NUL strings, deep nesting, wrong and missing
 * content types, malformed JSON, oversized and repeated headers, bad path and query values, and every kind of
 * credential. Every answer must be one of the statuses the document lists for the operation, never a 5xx, carry
 * X-Request-Id, match the document's schema for that status, and show no internal detail.
 *
 * Used by test/reliability/fuzz.test.ts (CI) and scripts/fuzz.ts (`bun run fuzz -- --runs N`).
 */
import fc from "fast-check";
import { checkAnswer, loadOperations, type Operation } from "./contract.ts";
import { createApprover, createKey, createProject, createTenant, mintSession, startCliLogin } from "./keys.ts";
import { idForPath } from "./paths.ts";
import { createWorld, type World } from "./world.ts";

export interface FuzzReport {
  requests: number;
  operations: number;
  byStatus: Record<number, number>;
  seed: number;
}

interface Fixtures {
  world: World;
  credentials: Record<string, string | null>;
  ids: Record<string, string>;
}

const hostileStrings = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "a\u0000b",
    "../../etc/passwd",
    "%00",
    "%2e%2e%2f",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "*",
    "null",
    "-1",
    "1e309",
    "NaN",
    "\u202e\u2066",
    "😀".repeat(50),
    "sk_live_",
    "key_",
    "cls_",
  ),
  fc.integer({ min: 2000, max: 70_000 }).map((length) => "x".repeat(length)),
);

const jsonValues = fc.oneof(
  { depthSize: "small" },
  fc.jsonValue({ maxDepth: 4 }),
  hostileStrings,
  fc.constantFrom(null, true, false, 0, -1, 1.5, Number.MAX_SAFE_INTEGER, [], {}),
);

function deeplyNested(depth: number): string {
  return `${"[".repeat(depth)}${"]".repeat(depth)}`;
}

async function buildFixtures(): Promise<Fixtures> {
  const world = await createWorld();
  await world.call("PATCH", `/v1/projects/${world.defaultProjectId}`, {
    key: world.rootKey,
    body: {
      ratelimit: { limit: 1_000_000, window_seconds: 1 },
      allowed_origins: ["https://app.example.com"],
      cli_default_scopes: ["runs:read"],
    },
  });
  const strong = await createKey(world, {
    scopes: ["keys:read", "keys:write", "cli:approve", "runs:read", "runs:write"],
  });
  const weak = await createKey(world, { scopes: ["runs:read"] });
  const target = await createKey(world, { scopes: ["runs:read"] });
  const tenantId = await createTenant(world);
  const projectId = await createProject(world, tenantId);
  const foreign = await createKey(world, { scopes: ["keys:read", "keys:write"], project_id: projectId });
  const session = await mintSession(world, strong.secret, { scopes: ["keys:read", "cli:approve", "runs:read"] });
  const login = await startCliLogin(world, { scopes: ["runs:read"] });
  await createApprover(world);
  return {
    world,
    credentials: {
      root: world.rootKey,
      strong: strong.secret,
      weak: weak.secret,
      foreign: foreign.secret,
      none: null,
      garbage: "sk_live_garbage",
      huge: `sk_live_${"A".repeat(9000)}`,
    },
    ids: {
      key: target.id,
      tenant: tenantId,
      project: projectId,
      sessionId: login.sessionId,
      userCode: login.userCode,
      sessionToken: session,
    },
  };
}

function fixtureFor(path: string, parameter: string, fixtures: Fixtures): string {
  if (parameter === "sessionId") return fixtures.ids.sessionId!;
  if (parameter === "userCode") return fixtures.ids.userCode!;
  return idForPath(path, {
    tenantId: fixtures.ids.tenant!,
    projectId: fixtures.ids.project!,
    keyId: fixtures.ids.key!,
  });
}

interface FuzzRequest {
  operation: number;
  credential: string;
  useSession: boolean;
  pathValues: (string | null)[];
  query: [string, string][];
  bodyKind: "object" | "value" | "nested" | "malformed" | "huge" | "none";
  bodyFields: [string, unknown][];
  bodyValue: unknown;
  bodyText: string;
  nesting: number;
  contentType: string | null;
  extraHeaders: [string, string][];
}

function requestArbitrary(operations: Operation[]): fc.Arbitrary<FuzzRequest> {
  return fc.record({
    operation: fc.integer({ min: 0, max: operations.length - 1 }),
    credential: fc.constantFrom("root", "root", "root", "strong", "weak", "foreign", "none", "garbage", "huge"),
    useSession: fc.boolean(),
    pathValues: fc.array(fc.option(hostileStrings, { freq: 2 }), { minLength: 2, maxLength: 2 }),
    query: fc.array(
      fc.tuple(
        fc.oneof(
          fc.constantFrom("limit", "cursor", "project_id", "owner", "tenant_id", "action", "scopes"),
          fc.string({ maxLength: 10 }),
        ),
        fc.oneof(hostileStrings, fc.integer().map(String)),
      ),
      { maxLength: 4 },
    ),
    bodyKind: fc.constantFrom("object", "object", "object", "value", "nested", "malformed", "huge", "none"),
    bodyFields: fc.array(fc.tuple(fc.oneof(fc.constant("__declared__"), fc.string({ maxLength: 12 })), jsonValues), {
      maxLength: 6,
    }),
    bodyValue: jsonValues,
    bodyText: fc.string({ maxLength: 60 }),
    nesting: fc.integer({ min: 50, max: 20_000 }),
    contentType: fc.constantFrom(
      null,
      "__declared__",
      "__declared__",
      "__declared__",
      "application/json; charset=utf-8",
      "text/plain",
      "multipart/form-data; boundary=x",
      "application/x-www-form-urlencoded",
      "application/xml",
      "garbage",
    ),
    extraHeaders: fc.array(
      fc.tuple(
        fc.constantFrom(
          "origin",
          "x-project-id",
          "x-code-verifier",
          "x-forwarded-for",
          "x-request-id",
          "x-forwarded-method",
          "x-latchkey-required-scopes",
          "x-padding",
        ),
        fc.oneof(
          fc.string({ maxLength: 30 }).map((text) => text.replace(/[^\x20-\x7e]/g, "")),
          fc.constantFrom("https://app.example.com", "https://evil.example.net", "POST", "x".repeat(8000)),
        ),
      ),
      { maxLength: 3 },
    ),
  });
}

function buildRequest(operation: Operation, request: FuzzRequest, fixtures: Fixtures) {
  // The wildcard of a "below this path" operation first, so a generated value of "*" stays a value.
  let path = operation.path.replace(/\*$/, "anything/below");
  operation.pathParameters.forEach((name, index) => {
    const value = request.pathValues[index] ?? fixtureFor(operation.path, name, fixtures);
    // "." and ".." (however encoded) are dot-segments that URL parsing removes: no URL can carry them as a value.
    const segment = encodeURIComponent(value) || "x";
    path = path.replace(`{${name}}`, /^(?:\.|%2e){1,2}$/i.test(segment) ? `${segment}x` : segment);
  });
  const search = new URLSearchParams();
  for (const name of operation.queryParameters) if (request.query.length % 2 === 0) search.append(name, "1");
  for (const [name, value] of request.query) search.append(name, value);
  const query = search.toString();
  const headers = new Headers();
  const secret = fixtures.credentials[request.credential];
  if (secret) headers.set("authorization", `Bearer ${secret}`);
  if (request.useSession) headers.set("x-session-token", fixtures.ids.sessionToken!);
  for (const [name, value] of request.extraHeaders) headers.append(name, value);
  let body: string | undefined;
  if (operation.method !== "GET" && request.bodyKind !== "none") {
    const fields = Object.fromEntries(
      request.bodyFields.map(([name, value], index) => [
        name === "__declared__" && operation.bodyProperties.length
          ? operation.bodyProperties[index % operation.bodyProperties.length]!
          : name,
        value,
      ]),
    );
    body = bodyText(request, fields, operation.bodyMediaType === "application/x-www-form-urlencoded");
  }
  const contentType = request.contentType === "__declared__" ? operation.bodyMediaType : request.contentType;
  if (body !== undefined && contentType) headers.set("content-type", contentType);
  return { method: operation.method, path: query ? `${path}?${query}` : path, headers, body };
}

/**
 * A generated value as a form field: strings as they are, anything else as JSON (String() throws on an object whose
 * generated `toString` field is not a function).
 */
function formValueOf(value: unknown): string {
  return typeof value === "string" ? value : (JSON.stringify(value) ?? "");
}

/** The body a generated request sends, by kind: fields (as JSON or a form), any JSON value, or broken text. */
function bodyText(request: FuzzRequest, fields: Record<string, unknown>, isForm: boolean): string {
  switch (request.bodyKind) {
    case "object":
      return isForm
        ? new URLSearchParams(
            Object.entries(fields).map(([name, value]): [string, string] => [name, formValueOf(value)]),
          ).toString()
        : JSON.stringify(fields);
    case "value":
      return JSON.stringify(request.bodyValue) ?? "null";
    case "nested":
      return deeplyNested(request.nesting);
    case "huge":
      return JSON.stringify({ name: "x".repeat(70_000) });
    default:
      return request.bodyText;
  }
}

export async function runFuzz(options: {
  runs: number;
  seed?: number;
  path?: string;
  worldEvery?: number;
}): Promise<FuzzReport> {
  const seed = options.seed ?? Date.now() % 2_147_483_647;
  const worldEvery = options.worldEvery ?? 2500;
  let fixtures = await buildFixtures();
  const operations = await loadOperations(fixtures.world);
  const byStatus: Record<number, number> = {};
  let requests = 0;
  try {
    await fc.assert(
      fc.asyncProperty(requestArbitrary(operations), async (generated) => {
        if (requests > 0 && requests % worldEvery === 0) {
          await fixtures.world.close();
          fixtures = await buildFixtures();
        }
        const operation = operations[generated.operation]!;
        const { method, path, headers, body } = buildRequest(operation, generated, fixtures);
        const answer = await fixtures.world.call(method, path, {
          headers: Object.fromEntries(headers.entries()),
          rawBody: body,
        });
        requests++;
        byStatus[answer.status] = (byStatus[answer.status] ?? 0) + 1;
        checkAnswer(operation, `${method} ${path.slice(0, 200)}`, answer);
      }),
      { numRuns: options.runs, seed, path: options.path, endOnFailure: true },
    );
  } finally {
    await fixtures.world.close();
  }
  return { requests, operations: operations.length, byStatus, seed };
}
