/**
 * Wrong user codes across nodes: the bounds of CLI login approval (five per approving key, five per client address,
 * fifty per project) hold however many nodes are guessed at, at once.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { useBuiltBinary } from "../support/binary.ts";
import { Cluster, SCALE_ENABLED, SCALE_NOTE } from "./cluster.ts";

const built = useBuiltBinary("scale-guesses");

describe.skipIf(!SCALE_ENABLED)(`wrong user codes ${SCALE_NOTE}`, () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await Cluster.start(built.path);
  }, 60_000);
  afterAll(() => cluster?.close(), 30_000);

  test("regression: 120 concurrent wrong codes with one key from one address over three nodes: 5 lookups", async () => {
    const started = await cluster.call(0, "POST", "/v1/api/auth/sessions", {
      body: { deviceName: "laptop", scopes: ["runs:read"] },
    });
    expect(started.status).toBe(201);
    const approver = await cluster.createKey(0, { scopes: ["cli:approve", "runs:read"] });
    const guesses = await Promise.all(
      Array.from({ length: 120 }, (_, index) =>
        cluster.call(index % 3, "POST", "/v1/api/auth/codes/BBBB-BBBB/approve", {
          key: approver.secret,
          body: { user_id: "u" },
        }),
      ),
    );
    const statuses = new Map<number, number>();
    for (const guess of guesses) statuses.set(guess.status, (statuses.get(guess.status) ?? 0) + 1);
    console.log(`120 concurrent wrong codes over 3 nodes: ${JSON.stringify(Object.fromEntries(statuses))}`);
    // Each 404 is a lookup that found nothing; every other guess was refused before any lookup.
    expect(Object.fromEntries(statuses)).toEqual({ 404: 5, 429: 115 });
    const right = await cluster.call(1, "POST", `/v1/api/auth/codes/${started.body.userCode}/approve`, {
      key: approver.secret,
      body: { user_id: "u" },
    });
    expect(right.status).toBe(429);
  }, 60_000);
});
