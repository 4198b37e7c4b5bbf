/**
 * Which methods a request path answers, from the route rows' path templates, so that another method there is 405
 * with `Allow` rather than a 404 ("No such route") or, where a parameter template also matches the text
 * (GET /v1/keys/verify and GET /v1/keys/:id), a complaint about the parameter.
 *
 * A path is judged by the one template a router would pick for it whatever the method: segment by segment, a fixed
 * segment beats a parameter (`:id`, one non-empty segment), which beats a wildcard (`*`, the rest of the path). GET
 * paths answer HEAD too.
 */
import type { AnyRoute } from "./route.ts";

type Segment = { kind: "fixed"; text: string } | { kind: "parameter" } | { kind: "wildcard" };

interface Template {
  segments: Segment[];
  methods: string[];
}

/** Segment kinds in order of preference when two templates match the same path. */
const RANK: Record<Segment["kind"], number> = { fixed: 0, parameter: 1, wildcard: 2 };

export type AllowedMethods = (path: string) => readonly string[] | undefined;

/** The lookup for these rows (and any extra GET-only paths not in the table, such as the document's). */
export function allowedMethodsOf(
  routes: readonly Pick<AnyRoute, "method" | "path">[],
  extraGetPaths: readonly string[] = [],
): AllowedMethods {
  const byPath = new Map<string, string[]>();
  for (const { method, path } of [...routes, ...extraGetPaths.map((path) => ({ method: "GET", path }))]) {
    const methods = byPath.get(path) ?? [];
    for (const answered of [method, ...(method === "GET" ? ["HEAD"] : [])]) {
      if (!methods.includes(answered)) methods.push(answered);
    }
    byPath.set(path, methods);
  }
  const fixed = new Map<string, string[]>();
  const templates: Template[] = [];
  for (const [path, methods] of byPath) {
    const segments = segmentsOf(path);
    if (segments.every((segment) => segment.kind === "fixed")) fixed.set(path, methods);
    else templates.push({ segments, methods });
  }
  templates.sort((a, b) => compareSpecificity(a.segments, b.segments));
  return (path) => {
    const exact = fixed.get(path);
    if (exact !== undefined) return exact;
    const parts = path.split("/").slice(1);
    return templates.find((template) => matches(template.segments, parts))?.methods;
  };
}

function segmentsOf(path: string): Segment[] {
  return path
    .split("/")
    .slice(1)
    .map((text): Segment => {
      if (text === "*") return { kind: "wildcard" };
      if (text.startsWith(":")) return { kind: "parameter" };
      return { kind: "fixed", text };
    });
}

/** Negative when `a` is the one a router prefers: its first segment that differs in kind ranks better. */
function compareSpecificity(a: Segment[], b: Segment[]): number {
  for (let index = 0; index < Math.min(a.length, b.length); index++) {
    const difference = RANK[a[index]!.kind] - RANK[b[index]!.kind];
    if (difference !== 0) return difference;
  }
  return b.length - a.length;
}

function matches(segments: Segment[], parts: string[]): boolean {
  for (let index = 0; index < segments.length; index++) {
    const segment = segments[index]!;
    if (segment.kind === "wildcard") return true;
    const part = parts[index];
    if (part === undefined) return false;
    if (segment.kind === "fixed" ? part !== segment.text : part === "") return false;
  }
  return parts.length === segments.length;
}
