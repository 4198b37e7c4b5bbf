import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { ALL_ROUTES } from "../../src/app/app.ts";
import { documentPathOf } from "../../src/http/document.ts";
import { documentedResponses } from "../../src/http/mount.ts";
import { createWorld, type World } from "../support/world.ts";

describe("the OpenAPI document", () => {
  let world: World;
  beforeEach(async () => {
    world = await createWorld();
  });
  afterEach(() => world.close());

  test("is OpenAPI 3.1 and is produced without any schema being dropped", async () => {
    const warnings: unknown[][] = [];
    const originalWarn = console.warn;
    console.warn = (...args: unknown[]) => warnings.push(args);
    try {
      const answer = await world.call("GET", "/openapi.json");
      expect(answer.status).toBe(200);
      expect(answer.body.openapi).toBe("3.1.0");
    } finally {
      console.warn = originalWarn;
    }
    expect(warnings).toEqual([]);
  });

  test("documents every route of the table, with every response it can give", async () => {
    const document = (await world.call("GET", "/openapi.json")).body;
    for (const spec of ALL_ROUTES) {
      const openapiPath = documentPathOf(spec.path);
      const operation = document.paths[openapiPath]?.[spec.method.toLowerCase()];
      expect({ route: `${spec.method} ${spec.path}`, found: operation !== undefined }).toEqual({
        route: `${spec.method} ${spec.path}`,
        found: true,
      });
      expect(operation.operationId).toBe(spec.operationId);
      expect(operation.summary).toBe(spec.summary);
      expect(operation.tags).toEqual(spec.tags);
      const expectedStatuses = Object.keys(documentedResponses(spec)).sort();
      expect(Object.keys(operation.responses).sort()).toEqual(expectedStatuses);
      for (const status of expectedStatuses) {
        const content = operation.responses[status].content ?? {};
        const schema = (content["application/json"] ?? content["text/plain"])?.schema;
        expect({
          route: spec.operationId,
          status,
          hasSchema: Boolean(schema && (schema.type || schema.$ref || schema.anyOf || schema.oneOf)),
        }).toEqual({ route: spec.operationId, status, hasSchema: true });
      }
      if (spec.body) {
        const mediaType = spec.bodyFormat === "form" ? "application/x-www-form-urlencoded" : "application/json";
        expect(Object.keys(operation.requestBody.content)).toEqual([mediaType]);
      }
      const bothCredentials = [{ bearerAuth: [] }, { sessionToken: [] }];
      const security = {
        none: [],
        key: [{ bearerAuth: [] }],
        root: [{ bearerAuth: [] }],
        key_or_session: bothCredentials,
        forwarded: bothCredentials,
      };
      expect(operation.security ?? []).toEqual(security[spec.credential]);
      const documentedParameters = (operation.parameters ?? []).map((parameter: { name: string }) => parameter.name);
      for (const name of openapiPath.match(/\{([^}]+)\}/g) ?? [])
        expect(documentedParameters).toContain(name.slice(1, -1));
    }
  });

  test("regression: declares the server and the headers each route reads as parameters", async () => {
    world.deps.settings.publicUrl = "https://auth.example.com";
    const document = (await world.call("GET", "/openapi.json")).body;
    expect(document.servers).toEqual([{ url: "https://auth.example.com", description: expect.any(String) }]);
    const headersOf = (path: string, method: string) =>
      (document.paths[path][method].parameters ?? [])
        .filter((parameter: { in: string }) => parameter.in === "header")
        .map((parameter: { name: string }) => parameter.name);
    expect(headersOf("/v1/keys", "get")).toEqual(["X-Session-Token", "X-Project-Id"]);
    expect(headersOf("/v1/sessions", "post")).toEqual(["X-Project-Id"]);
    expect(headersOf("/v1/keys/verify", "post")).toEqual(["X-Project-Id"]);
    expect(headersOf("/v1/api/auth/sessions/{sessionId}", "get")).toEqual(["X-Code-Verifier"]);
    expect(headersOf("/v1/authz", "get")).toEqual([
      "X-Session-Token",
      "X-Project-Id",
      "Origin",
      "X-Forwarded-Method",
      "X-Original-Method",
      "X-Latchkey-Required-Scopes",
      "X-Latchkey-Scope-Query",
    ]);
    expect(headersOf("/v1/tenants", "get")).toEqual([]);
    expect(JSON.stringify(document)).not.toContain("x-latchkey-header-parameters");
  });

  test("shows the error body with its closed list of codes", async () => {
    const document = (await world.call("GET", "/openapi.json")).body;
    const refusal = document.paths["/v1/keys"].post.responses["401"].content["application/json"].schema;
    expect(refusal).toEqual({ $ref: "#/components/schemas/Error" });
    const error = document.components.schemas.Error.properties.error;
    expect(error.properties.code).toEqual({ $ref: "#/components/schemas/ErrorCode" });
    expect(document.components.schemas.ErrorCode.enum).toContain("API_KEY_REVOKED");
    expect(error.required).toEqual(["code", "message", "details", "request_id"]);
  });

  test("/docs is served with its reader embedded: no script or style comes from another host", async () => {
    const page = await world.call("GET", "/docs");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const sources = [...page.text.matchAll(/<(?:script|link)[^>]+(?:src|href)="([^"]+)"/g)].map((match) => match[1]);
    expect(sources).toEqual(["/docs/scalar.js"]);
    expect(page.text).toContain('"url":"openapi.json"');
    const bundle = await world.call("GET", "/docs/scalar.js");
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get("content-type")).toContain("javascript");
    expect(bundle.text.length).toBeGreaterThan(1_000_000);
  });
});
