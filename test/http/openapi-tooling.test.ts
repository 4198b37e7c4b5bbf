/**
 * The document as the tools people point at it read it, each run on the document this server generates, from the
 * pinned devDependencies: swagger-cli validates it, redocly lint finds no error, openapi-typescript names the shapes
 * clients use. And what those tools show: every answer's headers, a path template for "any path below".
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { generatedTypes } from "../../sdk/scripts/generate.ts";
import { ALL_ROUTES } from "../../src/app/app.ts";
import { documentPathOf } from "../../src/http/document.ts";
import { RESPONSE_HEADERS } from "../../src/http/route.ts";
import { makeTempDir } from "../support/binary.ts";
import { createWorld } from "../support/world.ts";

const BIN = join(import.meta.dir, "..", "..", "node_modules", ".bin");
// Neither tool may reach the network from a test: no telemetry, no update check.
const QUIET = { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_NOTIFICATIONS: "true", CI: "true" };

type Document = Record<string, any>;

describe("the OpenAPI document, read by generators and validators", () => {
  const workspace = makeTempDir("openapi-tooling");
  const file = join(workspace.path, "openapi.json");
  let document: Document;
  beforeAll(async () => {
    const world = await createWorld();
    try {
      document = (await world.call("GET", "/openapi.json")).body;
    } finally {
      world.close();
    }
    writeFileSync(file, JSON.stringify(document));
  });
  afterAll(() => workspace.remove());

  const run = (command: string[]) => {
    const result = Bun.spawnSync(command, { env: QUIET, stdout: "pipe", stderr: "pipe" });
    return { exitCode: result.exitCode, output: result.stdout.toString() + result.stderr.toString() };
  };

  test("regression: swagger-cli validates it (it declares 3.1.0, where 3.1.2 was refused)", () => {
    const validated = run([join(BIN, "swagger-cli"), "validate", file]);
    expect(validated.output).toContain("is valid");
    expect(validated.exitCode).toBe(0);
  });

  test("redocly lint finds no error", () => {
    const linted = run([join(BIN, "redocly"), "lint", file, "--format", "json"]);
    const problems: { severity: string; ruleId: string; message: string }[] = JSON.parse(
      linted.output.slice(linted.output.indexOf("{"), linted.output.lastIndexOf("}") + 1),
    ).problems;
    expect(problems.filter((problem) => problem.severity === "error")).toEqual([]);
    expect(linted.exitCode).toBe(0);
  });

  test("regression: openapi-typescript names the shapes clients use and lists the error codes once", async () => {
    const types = await generatedTypes(JSON.stringify(document));
    expect(types).not.toContain("schemas: never");
    const schemas = types.slice(types.indexOf("\n    schemas: {"), types.indexOf("\n    responses: "));
    for (const name of [
      "ApiKey",
      "ApiKeyCreated",
      "ApiKeyList",
      "Session",
      "VerifyResult",
      "Authorization",
      "Tenant",
      "Project",
      "AuditEvent",
      "CliLoginSession",
      "Error",
      "ErrorCode",
      "Discovery",
    ]) {
      expect({ name, named: schemas.includes(`\n        ${name}: `) }).toEqual({ name, named: true });
    }
    expect(types.match(/"API_KEY_REVOKED"/g)).toHaveLength(1);
    expect(types).toContain('"application/json": components["schemas"]["ApiKey"];');
  });

  test("components.schemas come from the route table: every named schema a row answers is referenced by name", () => {
    const named = ALL_ROUTES.flatMap((spec) =>
      Object.entries(spec.responses).flatMap(([status, schema]) => {
        const id = schema ? z.globalRegistry.get(schema)?.id : undefined;
        return id === undefined ? [] : [{ spec, status, id }];
      }),
    );
    expect(named.length).toBeGreaterThan(30);
    for (const { spec, status, id } of named) {
      const operation = document.paths[documentPathOf(spec.path)][spec.method.toLowerCase()];
      expect({
        route: spec.operationId,
        status,
        schema: operation.responses[status].content["application/json"],
      }).toEqual({ route: spec.operationId, status, schema: { schema: { $ref: `#/components/schemas/${id}` } } });
      expect(document.components.schemas[id]).toBeDefined();
    }
    expect(JSON.stringify(document)).not.toContain("$defs");
  });

  test("regression: every response header the API sends is described once, in components.headers", () => {
    expect(Object.keys(document.components.headers).sort()).toEqual(Object.keys(RESPONSE_HEADERS).sort());
    const headersOf = (path: string, method: string, status: number) =>
      Object.entries(document.paths[path][method].responses[status].headers ?? {}).map(([name, header]) => {
        expect(header).toEqual({ $ref: `#/components/headers/${name}` });
        return name;
      });
    for (const item of Object.values<Document>(document.paths)) {
      for (const operation of Object.values<Document>(item)) {
        for (const [status, response] of Object.entries<Document>(operation.responses)) {
          expect({ operation: operation.operationId, status, id: "X-Request-Id" in (response.headers ?? {}) }).toEqual({
            operation: operation.operationId,
            status,
            id: true,
          });
        }
      }
    }
    const rateLimit = [
      "X-RateLimit-Limit",
      "X-RateLimit-Remaining",
      "X-RateLimit-Reset",
      "RateLimit",
      "RateLimit-Policy",
    ];
    expect(headersOf("/v1/keys", "get", 200)).toEqual(["X-Request-Id", ...rateLimit]);
    expect(headersOf("/v1/keys", "get", 401)).toEqual(["X-Request-Id", "WWW-Authenticate"]);
    expect(headersOf("/v1/keys", "get", 429)).toEqual(["X-Request-Id", "Retry-After", ...rateLimit]);
    expect(headersOf("/v1/keys/verify", "post", 200)).toEqual(["X-Request-Id", ...rateLimit]);
    expect(headersOf("/readyz", "get", 503)).toEqual(["X-Request-Id", "Retry-After"]);
    expect(headersOf("/v1/authz", "get", 200)).toEqual([
      "X-Request-Id",
      ...rateLimit,
      "X-Latchkey-Key-Id",
      "X-Latchkey-Project-Id",
      "X-Latchkey-Tenant-Id",
      "X-Latchkey-Subject",
      "X-Latchkey-Scopes",
    ]);
    expect(headersOf("/v1/authz/{path}", "post", 403)).toEqual(["X-Request-Id", "X-Latchkey-Error"]);
  });

  test("regression: forward-auth below /v1/authz is a path template with its parameter", () => {
    expect(Object.keys(document.paths).filter((path) => path.includes("*"))).toEqual([]);
    const below = document.paths["/v1/authz/{path}"];
    expect(Object.keys(below).sort()).toEqual(["delete", "get", "patch", "post", "put"]);
    for (const operation of Object.values<Document>(below)) {
      expect(operation.parameters[0]).toMatchObject({ name: "path", in: "path", required: true });
    }
  });
});
