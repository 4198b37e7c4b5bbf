/**
 * A 500 or a 503 says why in the log and nowhere else: the underlying error travels with the answer's AppError as its
 * cause, and the answer's log line carries the cause's name, message, code and where it was thrown, while the body
 * stays the catalogue's envelope.
 */
import { afterEach, expect, test } from "bun:test";
import { z } from "zod";
import { route } from "../../src/http/route.ts";
import { ERROR_CATALOGUE } from "../../src/lib/errors.ts";
import { type DatabasePlace, dropPlace, freshPlace, testEngine } from "../support/engines.ts";
import { createKey, expectError } from "../support/keys.ts";
import { TcpProxy } from "../support/tcp-proxy.ts";
import { forEachTransport } from "../support/transports.ts";
import { type Answer, createWorld, type World } from "../support/world.ts";

const PASTED_ROOT_KEY = `lk_root_${"A".repeat(49)}`;

const throwingRoutes = [
  route({
    method: "GET",
    path: "/test/ledger",
    operationId: "testLedger",
    summary: "Fails with a bug of its own.",
    tags: ["operations"],
    credential: "none",
    responses: { 200: z.object({ id: z.string() }) },
    handle: function readTheLedger() {
      throw new RangeError("the ledger has 3 entries, expected 4");
    },
  }),
  route({
    method: "GET",
    path: "/test/wrapped",
    operationId: "testWrapped",
    summary: "Fails the way a query wrapper does: its message repeats the parameters, its cause says why.",
    tags: ["operations"],
    credential: "none",
    responses: { 200: z.object({ id: z.string() }) },
    handle: () => {
      const refused = Object.assign(
        new Error(`connect to postgres://latchkey:hunter2-password@db:5432/x refused; ${PASTED_ROOT_KEY}`),
        { code: "28P01" },
      );
      throw new Error(`Failed query: select 1\nparams: ${PASTED_ROOT_KEY}`, { cause: refused });
    },
  }),
];

/** The one line logged about why this answer failed (besides the request line every answer has at debug level). */
function logLineOf(world: World, answer: Answer): Record<string, unknown> {
  const requestId = answer.body.error.request_id;
  const lines = world.logLines
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.request_id === requestId && line.status === answer.status && line.level !== "debug");
  expect({ requestId, lines: lines.length }).toEqual({ requestId, lines: 1 });
  return lines[0]!;
}

/** The catalogue's envelope and nothing else: its code, its public message, no details, the request id. */
function expectEnvelope(answer: Answer, status: 500 | 503) {
  const code = status === 500 ? "INTERNAL" : "UNAVAILABLE";
  expectError(answer, status, code);
  expect(answer.body).toEqual({
    error: { code, message: ERROR_CATALOGUE[code].message, details: [], request_id: answer.body.error.request_id },
  });
}

forEachTransport("a 5xx logs its cause, never answers it", (transport) => {
  let world: World;
  afterEach(() => world.close());

  test("a 503 from a database that went away names the database's error in its log line", async () => {
    world = await createWorld({ transport });
    const key = await createKey(world, { scopes: ["keys:read"] });
    await world.closeStorage();
    const answer = await world.call("GET", "/v1/keys", { key: key.secret });
    expectEnvelope(answer, 503);
    const logged = logLineOf(world, answer);
    expect(logged).toMatchObject({ level: "warn", msg: "database unavailable", code: "UNAVAILABLE", method: "GET" });
    // SQLite: bun:sqlite's RangeError on a closed database; PostgreSQL: node-postgres on a pool that was ended.
    expect(logged.cause_message).toMatch(/closed database|pool after calling end/i);
    expect(answer.text).not.toContain(String(logged.cause_message));
  });

  test("a 500 from an unexpected throw logs its message and where it was thrown; the body is unchanged", async () => {
    world = await createWorld({ transport, extraRoutes: throwingRoutes });
    const answer = await world.call("GET", "/test/ledger");
    expectEnvelope(answer, 500);
    const logged = logLineOf(world, answer);
    expect(logged).toMatchObject({
      level: "error",
      msg: "unhandled error",
      route: "/test/ledger",
      cause_name: "RangeError",
      cause_message: "the ledger has 3 entries, expected 4",
    });
    const thrownAt = String(logged.cause_at);
    expect(thrownAt).toStartWith("at readTheLedger ");
    expect(thrownAt).toContain("error-causes.test.ts");
    expect(String(logged.stack).split("\n")[0]).toBe(thrownAt);
    for (const word of ["ledger", "RangeError", "readTheLedger", "error-causes"]) {
      expect(answer.text).not.toContain(word);
    }
  });

  test("the innermost cause is logged, and a password or a secret in its message is not", async () => {
    world = await createWorld({ transport, extraRoutes: throwingRoutes });
    // close() fails if the world's logs or error bodies hold anything it was handed.
    world.handedSecrets.add(PASTED_ROOT_KEY);
    world.handedSecrets.add("hunter2-password");
    const answer = await world.call("GET", "/test/wrapped");
    expectEnvelope(answer, 500);
    const logged = logLineOf(world, answer);
    expect(logged).toMatchObject({ cause_code: "28P01" });
    expect(logged.cause_message).toBe("connect to postgres://latchkey:[redacted]@db:5432/x refused; [redacted]");
    expect(JSON.stringify(logged)).not.toContain("Failed query");
  });
});

test.skipIf(testEngine() !== "postgres")(
  "PostgreSQL: a 503 while nothing listens where the database was names ECONNREFUSED in its log line",
  async () => {
    const place = freshPlace(undefined, "postgres") as DatabasePlace & { engine: "postgres" };
    const server = new URL(place.url);
    const proxy = await TcpProxy.start(server.hostname, Number(server.port || 5432));
    const viaProxy = new URL(place.url);
    viaProxy.hostname = "127.0.0.1";
    viaProxy.port = String(proxy.port);
    const world = await createWorld({ place: { ...place, url: viaProxy.toString() } });
    try {
      const key = await createKey(world, { scopes: ["keys:read"] });
      // The proxy stops listening and drops its connections: the pool's next connection is refused.
      await proxy.close();
      let logged: Record<string, unknown> = {};
      for (let attempt = 0; attempt < 50 && logged.cause_code !== "ECONNREFUSED"; attempt++) {
        const answer = await world.call("GET", "/v1/keys", { key: key.secret });
        expectEnvelope(answer, 503);
        logged = logLineOf(world, answer);
        expect(answer.text).not.toContain(String(logged.cause_message));
        if (logged.cause_code !== "ECONNREFUSED") await Bun.sleep(20);
      }
      expect(logged).toMatchObject({ msg: "database unavailable", cause_code: "ECONNREFUSED" });
      expect(logged.cause_message).toContain(String(proxy.port));
    } finally {
      await world.closeStorage();
      await world.close();
      await dropPlace(place);
    }
  },
  30_000,
);
