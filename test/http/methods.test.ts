import { expect, test } from "bun:test";
import { ALL_ROUTES } from "../../src/app/app.ts";
import { expectError } from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

/** What a template answers, worked out from the rows here rather than by the code under test. */
function methodsOf(path: string): string[] {
  const declared = ALL_ROUTES.filter((row) => row.path === path).map((row) => row.method);
  return [...new Set(declared.flatMap((method) => (method === "GET" ? ["GET", "HEAD"] : [method])))];
}

/** A concrete path for a template: a value for each parameter, a path below a wildcard. */
function concretePath(template: string): string {
  return template.replace(/:[A-Za-z]+/g, "x1").replace(/\*$/, "below/it");
}

forEachTransport("methods a path lacks", (transport) => {
  const world = useWorld({ transport });

  test("regression: an id path answers 405 with Allow for a method it lacks, not 404 'No such route'", async () => {
    const cases: [string, string, string][] = [
      ["PUT", "/v1/keys/key_0000000000000000000000", "GET, HEAD, PATCH, DELETE"],
      ["PUT", "/v1/projects/prj_0000000000000000000000", methodsOf("/v1/projects/:id").join(", ")],
      ["POST", "/v1/tenants/ten_0000000000000000000000", methodsOf("/v1/tenants/:id").join(", ")],
      ["GET", "/v1/keys/key_0000000000000000000000/rotate", "POST"],
    ];
    for (const [method, path, allow] of cases) {
      const answer = await world.call(method, path, { key: world.rootKey });
      expectError(answer, 405, "METHOD_NOT_ALLOWED");
      expect({ method, path, allow: answer.headers.get("allow") }).toEqual({ method, path, allow });
    }
  });

  test("every path template of the route table answers 405 with Allow for each method it lacks", async () => {
    const templates = [...new Set(ALL_ROUTES.map((row) => row.path))];
    let refused = 0;
    for (const template of templates) {
      const allowed = methodsOf(template);
      for (const method of METHODS.filter((candidate) => !allowed.includes(candidate))) {
        const answer = await world.call(method, concretePath(template));
        const allow = answer.headers.get("allow")?.split(", ").sort();
        expect({ template, method, status: answer.status, allow }).toEqual({
          template,
          method,
          status: 405,
          allow: [...allowed].sort(),
        });
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(50);
  });

  test("a fixed path still wins over a template that also matches its text", async () => {
    const answer = await world.call("DELETE", "/v1/keys/verify", { key: world.rootKey });
    expectError(answer, 405, "METHOD_NOT_ALLOWED");
    expect(answer.headers.get("allow")).toBe("POST");
  });

  test("a path no template matches stays 404, and a method a template has still reaches its route", async () => {
    expectError(await world.call("PUT", "/v1/keys/key_0000000000000000000000/x"), 404, "NOT_FOUND");
    expectError(await world.call("DELETE", "/v1/nowhere/x1"), 404, "NOT_FOUND");
    expectError(
      await world.call("GET", "/v1/keys/key_0000000000000000000000", { key: world.rootKey }),
      404,
      "NOT_FOUND",
    );
    expect((await world.call("POST", "/openapi.json")).status).toBe(405);
  });
});
