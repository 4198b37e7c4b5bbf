import { describe, expect, test } from "bun:test";
import { boundedCache } from "../../src/lib/bounded-cache.ts";

describe("a bounded cache", () => {
  test("holds at most its entries: the least recently used one goes first, disposed as an eviction", () => {
    const disposed: [string, string][] = [];
    const cache = boundedCache<string, number>(3, { dispose: (_value, key, reason) => disposed.push([key, reason]) });
    for (const key of ["a", "b", "c"]) cache.set(key, 1);
    cache.get("a");
    cache.set("d", 1);
    expect([...cache.keys()].sort()).toEqual(["a", "c", "d"]);
    expect(disposed).toEqual([["b", "evict"]]);
    for (let index = 0; index < 100; index++) cache.set(`k${index}`, index);
    expect(cache.size).toBe(3);
    expect([...cache.keys()]).toEqual(["k99", "k98", "k97"]);
  });

  test("a value set again under its key replaces it without evicting another", () => {
    const cache = boundedCache<string, number>(2);
    cache.set("a", 1);
    cache.set("b", 2);
    cache.set("a", 3);
    expect(cache.size).toBe(2);
    expect(cache.get("a")).toBe(3);
    expect(cache.get("b")).toBe(2);
  });
});
