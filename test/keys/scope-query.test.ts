/**
 * Scope queries (src/domain/keys/scope-query.ts): the grammar (AND binds tighter than OR, keywords in any case,
 * parentheses), its bounds with the position of what is wrong, and the unmet part named on a refusal.
 */
import { describe, expect, test } from "bun:test";
import { parseScopeQuery, scopeQueryText, unmetPartOf } from "../../src/domain/keys/scope-query.ts";

function parsed(text: string) {
  const result = parseScopeQuery(text);
  if (!result.ok) throw new Error(`${text}: ${result.message} at ${result.position}`);
  return result.query;
}

describe("scope query grammar", () => {
  test("AND binds tighter than OR; keywords in any case; parentheses group", () => {
    expect(scopeQueryText(parsed("a:b OR c:d AND e:f"))).toBe("a:b OR c:d AND e:f");
    expect(parsed("a:b or c:d and e:f")).toEqual({
      kind: "or",
      parts: [
        { kind: "scope", scope: "a:b" },
        {
          kind: "and",
          parts: [
            { kind: "scope", scope: "c:d" },
            { kind: "scope", scope: "e:f" },
          ],
        },
      ],
    });
    expect(scopeQueryText(parsed("(a:b OR c:d) And e:f"))).toBe("(a:b OR c:d) AND e:f");
    expect(scopeQueryText(parsed("  ((runs:read))  "))).toBe("runs:read");
  });

  test("malformed queries name the character position where they went wrong", () => {
    const cases: [string, number, string][] = [
      ["", 0, "expected a scope or ("],
      ["runs:read AND", 13, "expected a scope or ("],
      ["runs:read runs:write", 10, "expected AND, OR or the end"],
      ["(runs:read", 10, "expected )"],
      ["runs:read)", 9, "expected AND, OR or the end"],
      ["AND runs:read", 0, "expected a scope or ("],
      ["runs:read OR Runs:Write", 13, "expected a scope, lower-case resource:action, e.g. runs:write"],
      ["runs:*", 0, "expected a scope, lower-case resource:action, e.g. runs:write"],
    ];
    for (const [text, position, message] of cases) {
      expect({ text, result: parseScopeQuery(text) }).toEqual({ text, result: { ok: false, position, message } });
    }
  });

  test("bounds: 1,000 characters, 8 levels of parentheses, 64 scopes", () => {
    const deep = (levels: number) => `${"(".repeat(levels)}a:b${")".repeat(levels)}`;
    expect(parseScopeQuery(deep(8)).ok).toBe(true);
    expect(parseScopeQuery(deep(9))).toEqual({
      ok: false,
      position: 8,
      message: "must nest at most 8 levels of parentheses",
    });
    const scopes = (count: number) => Array.from({ length: count }, (_, index) => `s:${index}`).join(" OR ");
    expect(parseScopeQuery(scopes(64)).ok).toBe(true);
    const tooMany = parseScopeQuery(scopes(65));
    expect(tooMany.ok === false && tooMany.message).toBe("must name at most 64 scopes");
    const longest = `${"a".repeat(64)}:${"b".repeat(64)}`;
    const exactly1000 = `${" ".repeat(73)}${Array.from({ length: 7 }, () => longest).join(" OR ")}`;
    expect(exactly1000.length).toBe(1000);
    expect(parseScopeQuery(exactly1000).ok).toBe(true);
    expect(parseScopeQuery("a".repeat(1001))).toEqual({
      ok: false,
      position: 1000,
      message: "must be at most 1000 characters",
    });
  });

  test("the unmet part: a whole OR, or the unmet members of an AND", () => {
    const query = parsed("runs:read AND (runs:write OR billing:admin) AND audit:read");
    expect(unmetPartOf(query, ["runs:read", "billing:admin", "audit:read"])).toBeNull();
    expect(scopeQueryText(unmetPartOf(query, ["runs:read", "audit:read"])!)).toBe("runs:write OR billing:admin");
    expect(scopeQueryText(unmetPartOf(query, ["runs:write"])!)).toBe("runs:read AND audit:read");
    expect(scopeQueryText(unmetPartOf(query, [])!)).toBe("runs:read AND (runs:write OR billing:admin) AND audit:read");
    expect(unmetPartOf(parsed("a:b OR c:d AND e:f"), ["c:d", "e:f"])).toBeNull();
  });
});
