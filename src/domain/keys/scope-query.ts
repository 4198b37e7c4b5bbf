/**
 * Scope queries: what a request needs, as a boolean expression of scopes, e.g.
 *
 *   runs:read AND (runs:write OR billing:admin)
 *
 * `AND` and `OR` in any case, AND binding tighter than OR, parentheses to group. At most 1,000 characters, 8 levels
 * of parentheses and 64 scopes. A malformed query names the character position (from 0) where it went wrong; an
 * unsatisfied one names the smallest part that is unmet, written back in the same grammar.
 */
import { MAX_SCOPES_PER_KEY, SCOPE_PATTERN } from "./scopes.ts";

export const MAX_SCOPE_QUERY_LENGTH = 1000;
const MAX_SCOPE_QUERY_DEPTH = 8;

export type ScopeQuery =
  | { kind: "scope"; scope: string }
  | { kind: "and"; parts: ScopeQuery[] }
  | { kind: "or"; parts: ScopeQuery[] };

export type ParsedScopeQuery = { ok: true; query: ScopeQuery } | { ok: false; position: number; message: string };

interface Token {
  text: string;
  position: number;
}

/** Words and parentheses, each with where it starts; whitespace separates and is otherwise ignored. */
function tokensOf(text: string): Token[] {
  const tokens: Token[] = [];
  const pattern = /\(|\)|[^\s()]+/g;
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
    tokens.push({ text: match[0], position: match.index });
  }
  return tokens;
}

class QuerySyntaxError extends Error {
  constructor(
    readonly position: number,
    message: string,
  ) {
    super(message);
  }
}

export function parseScopeQuery(text: string): ParsedScopeQuery {
  if (text.length > MAX_SCOPE_QUERY_LENGTH) {
    return {
      ok: false,
      position: MAX_SCOPE_QUERY_LENGTH,
      message: `must be at most ${MAX_SCOPE_QUERY_LENGTH} characters`,
    };
  }
  const tokens = tokensOf(text);
  let next = 0;
  let scopes = 0;
  const peek = () => tokens[next];
  const keyword = (token: Token | undefined, word: "AND" | "OR") => token?.text.toUpperCase() === word;

  // query := and ("OR" and)* ; and := term ("AND" term)* ; term := scope | "(" query ")"
  /** Parts read by `part`, joined by `word`: one part stands for itself. */
  const joined = (word: "AND" | "OR", part: (depth: number) => ScopeQuery, depth: number): ScopeQuery => {
    const parts = [part(depth)];
    while (keyword(peek(), word)) {
      next++;
      parts.push(part(depth));
    }
    return parts.length === 1 ? parts[0]! : { kind: word === "AND" ? "and" : "or", parts };
  };
  const parseOr = (depth: number): ScopeQuery => joined("OR", parseAnd, depth);
  const parseAnd = (depth: number): ScopeQuery => joined("AND", parseTerm, depth);
  const parseTerm = (depth: number): ScopeQuery => {
    const token = peek();
    if (token === undefined) throw new QuerySyntaxError(text.length, "expected a scope or (");
    if (token.text === "(") {
      if (depth >= MAX_SCOPE_QUERY_DEPTH) {
        throw new QuerySyntaxError(token.position, `must nest at most ${MAX_SCOPE_QUERY_DEPTH} levels of parentheses`);
      }
      next++;
      const inner = parseOr(depth + 1);
      const closing = peek();
      if (closing?.text !== ")") throw new QuerySyntaxError(closing?.position ?? text.length, "expected )");
      next++;
      return inner;
    }
    if (token.text === ")" || keyword(token, "AND") || keyword(token, "OR")) {
      throw new QuerySyntaxError(token.position, "expected a scope or (");
    }
    if (!SCOPE_PATTERN.test(token.text)) {
      throw new QuerySyntaxError(token.position, "expected a scope, lower-case resource:action, e.g. runs:write");
    }
    if (++scopes > MAX_SCOPES_PER_KEY) {
      throw new QuerySyntaxError(token.position, `must name at most ${MAX_SCOPES_PER_KEY} scopes`);
    }
    next++;
    return { kind: "scope", scope: token.text };
  };

  try {
    const query = parseOr(0);
    const rest = peek();
    if (rest !== undefined) throw new QuerySyntaxError(rest.position, "expected AND, OR or the end");
    return { ok: true, query };
  } catch (error) {
    if (error instanceof QuerySyntaxError) return { ok: false, position: error.position, message: error.message };
    throw error;
  }
}

/** null when `held` satisfies the query; otherwise the unmet part (an OR unmet as a whole, an AND by its parts). */
export function unmetPartOf(query: ScopeQuery, held: readonly string[]): ScopeQuery | null {
  switch (query.kind) {
    case "scope":
      return held.includes(query.scope) ? null : query;
    case "or":
      return query.parts.some((part) => unmetPartOf(part, held) === null) ? null : query;
    case "and": {
      const unmet = query.parts.map((part) => unmetPartOf(part, held)).filter((part) => part !== null);
      if (unmet.length === 0) return null;
      return unmet.length === 1 ? unmet[0]! : { kind: "and", parts: unmet };
    }
  }
}

/** The query written back in its own grammar (upper-case keywords, parentheses only where precedence needs them). */
export function scopeQueryText(query: ScopeQuery): string {
  if (query.kind === "scope") return query.scope;
  if (query.kind === "or") return query.parts.map(scopeQueryText).join(" OR ");
  return query.parts
    .map((part) => (part.kind === "or" ? `(${scopeQueryText(part)})` : scopeQueryText(part)))
    .join(" AND ");
}
