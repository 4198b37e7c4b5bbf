/**
 * GET /v1/keys filters: by name prefix (exact case, on both engines), enabled, revoked, expired and creation time,
 * combined with each other and with paging; a malformed filter is a 400.
 */
import { expect, test } from "bun:test";
import { createKey } from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";

forEachTransport("listing keys with filters", (transport) => {
  const world = useWorld({ transport });
  const names = async (query: string) => {
    const answer = await world.call("GET", `/v1/keys?${query}`, { key: world.rootKey });
    expect({ query, status: answer.status }).toEqual({ query, status: 200 });
    return answer.body.data.filter((key: { root: boolean }) => !key.root).map((key: { name: string }) => key.name);
  };

  test("each filter alone and together, newest first, paged", async () => {
    const startedAt = new Date(world.clock.nowMilliseconds()).toISOString();
    const made: Record<string, string> = {};
    for (const name of ["prod a", "prod b", "Prod c", "staging", "prod_% d", "épée"]) {
      made[name] = (await createKey(world, { scopes: ["runs:read"], name })).id;
      world.clock.advanceSeconds(10);
    }
    const middle = new Date(world.clock.nowMilliseconds() - 35_000).toISOString();
    await world.call("PATCH", `/v1/keys/${made["prod b"]}`, { key: world.rootKey, body: { enabled: false } });
    await world.call("DELETE", `/v1/keys/${made.staging}`, { key: world.rootKey });
    const soon = new Date(world.clock.nowMilliseconds() + 5_000).toISOString();
    await world.call("PATCH", `/v1/keys/${made["prod a"]}`, { key: world.rootKey, body: { expires_at: soon } });
    world.clock.advanceSeconds(10);

    expect(await names("name=prod")).toEqual(["prod_% d", "prod b", "prod a"]);
    expect(await names("name=prod_%25")).toEqual(["prod_% d"]);
    expect(await names("name=%C3%A9p")).toEqual(["épée"]);
    expect(await names("name=Prod")).toEqual(["Prod c"]);
    expect(await names("enabled=false")).toEqual(["prod b"]);
    expect(await names("revoked=true")).toEqual(["staging"]);
    expect(await names("expired=true")).toEqual(["prod a"]);
    expect((await names("expired=false")).includes("prod a")).toBe(false);
    expect(await names(`created_after=${middle}`)).toEqual(["épée", "prod_% d", "staging"]);
    expect(await names(`created_after=${startedAt}&created_before=${middle}`)).toEqual(["Prod c", "prod b", "prod a"]);
    expect(await names("name=prod&enabled=true&revoked=false&expired=false")).toEqual(["prod_% d"]);
    const firstPage = await world.call("GET", "/v1/keys?name=prod&limit=2", { key: world.rootKey });
    expect(firstPage.body.data.map((key: { name: string }) => key.name)).toEqual(["prod_% d", "prod b"]);
    const second = await world.call("GET", `/v1/keys?name=prod&limit=2&cursor=${firstPage.body.next_cursor}`, {
      key: world.rootKey,
    });
    expect(second.body.data.map((key: { name: string }) => key.name)).toEqual(["prod a"]);
  });

  test("a malformed filter is a 400 naming it", async () => {
    for (const [query, path] of [
      ["enabled=maybe", "enabled"],
      ["revoked=2", "revoked"],
      ["expired=", "expired"],
      ["created_after=yesterday", "created_after"],
      ["created_before=2026-13-01T00:00:00Z", "created_before"],
      [`name=${"x".repeat(201)}`, "name"],
    ] as const) {
      const answer = await world.call("GET", `/v1/keys?${query}`, { key: world.rootKey });
      expect({ query, status: answer.status, path: answer.body.error?.details?.[0]?.path }).toEqual({
        query,
        status: 400,
        path,
      });
    }
  });
});
