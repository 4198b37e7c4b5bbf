/**
 * The finishing pass over the document @elysiajs/openapi generates from the mounted rows, run once when it is first
 * served (the generator caches it). What the generator cannot say, the mount leaves in fields of each operation, and
 * this pass puts it where OpenAPI readers and generators look:
 *
 * - header parameters: the generator writes `parameters` from the path and query schemas only;
 * - response headers, as references to `components.headers`;
 * - named shapes: zod writes a schema registered with `.meta({ id })` as `$defs` inside each schema that uses it,
 *   with `#/$defs/<id>` references that point nowhere in a document. Each goes to `components.schemas` once and every
 *   reference points there, so a generator names the type instead of copying it into every operation;
 * - a path ending in `*` (any path below, for Envoy) becomes a template with a `path` parameter.
 */
import { RESPONSE_HEADERS, type ResponseHeader } from "./route.ts";

/** Where the mount puts a row's header parameters (the generator replaces `parameters` given in `detail`). */
export const HEADER_PARAMETERS_FIELD = "x-latchkey-header-parameters";
/** Where the mount puts the headers of a row's answers, by status. */
export const RESPONSE_HEADERS_FIELD = "x-latchkey-response-headers";

const WILDCARD_PARAMETER = {
  name: "path",
  in: "path",
  required: true,
  description: "Any path below, slashes included (Envoy appends the original request's path).",
  schema: { type: "string" },
};

type Json = Record<string, unknown>;
interface Operation {
  parameters?: unknown[];
  responses?: Record<string, Json>;
  [HEADER_PARAMETERS_FIELD]?: unknown[];
  [RESPONSE_HEADERS_FIELD]?: Record<string, readonly ResponseHeader[]>;
}
interface Document {
  paths?: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, unknown>; headers?: Record<string, unknown> };
}

/** The path of a route row as the document writes it: `:id` → `{id}`, a trailing `*` → `{path}`. */
export function documentPathOf(routePath: string): string {
  return routePath.replace(/:([^/]+)/g, "{$1}").replace(/\/\*$/, `/{${WILDCARD_PARAMETER.name}}`);
}

const finished = new WeakSet<Document>();

export function finishDocument(document: Document): void {
  if (finished.has(document)) return;
  finished.add(document);
  const paths = document.paths ?? {};
  for (const [path, item] of Object.entries(paths)) {
    for (const operation of Object.values(item)) {
      declareHeaderParameters(operation);
      declareResponseHeaders(operation);
      if (path.endsWith("/*")) operation.parameters = [WILDCARD_PARAMETER, ...(operation.parameters ?? [])];
    }
    if (path.endsWith("/*")) {
      delete paths[path];
      paths[documentPathOf(path)] = item;
    }
  }
  document.components ??= {};
  const components = document.components;
  components.headers = Object.fromEntries(
    Object.entries(RESPONSE_HEADERS).map(([name, { type, description }]) => [name, { description, schema: { type } }]),
  );
  components.schemas = { ...components.schemas, ...hoistNamedSchemas(paths) };
}

function declareHeaderParameters(operation: Operation): void {
  const headers = operation[HEADER_PARAMETERS_FIELD];
  if (headers === undefined) return;
  delete operation[HEADER_PARAMETERS_FIELD];
  if (headers.length > 0) operation.parameters = [...(operation.parameters ?? []), ...headers];
}

function declareResponseHeaders(operation: Operation): void {
  const byStatus = operation[RESPONSE_HEADERS_FIELD];
  if (byStatus === undefined) return;
  delete operation[RESPONSE_HEADERS_FIELD];
  for (const [status, names] of Object.entries(byStatus)) {
    const response = operation.responses?.[status];
    if (!response || names.length === 0) continue;
    response.headers = Object.fromEntries(names.map((name) => [name, { $ref: `#/components/headers/${name}` }]));
  }
}

const LOCAL_DEFINITION = "#/$defs/";
const COMPONENT_SCHEMA = "#/components/schemas/";

/**
 * Moves every `$defs` entry under `paths` into the returned record and points every reference at it. `$schema` goes
 * too: a 3.1 document's schemas are JSON Schema 2020-12 already. A name given to two different shapes (a schema used
 * as input and as output, whose JSON differs by its defaults) is a mistake in the schemas, refused here.
 */
function hoistNamedSchemas(paths: Json): Record<string, unknown> {
  const named: Record<string, unknown> = {};
  const texts = new Map<string, string>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item);
      return;
    }
    if (typeof value !== "object" || value === null) return;
    const node = value as Json;
    if (typeof node.$ref === "string" && node.$ref.startsWith(LOCAL_DEFINITION)) {
      node.$ref = COMPONENT_SCHEMA + node.$ref.slice(LOCAL_DEFINITION.length);
    }
    const definitions = node.$defs as Json | undefined;
    delete node.$defs;
    delete node.$schema;
    for (const child of Object.values(node)) visit(child);
    for (const [name, definition] of Object.entries(definitions ?? {})) {
      visit(definition);
      const text = JSON.stringify(definition);
      const known = texts.get(name);
      if (known !== undefined && known !== text) {
        throw new Error(`two different shapes are named ${name}: name the input and the output schemas apart`);
      }
      texts.set(name, text);
      named[name] = definition;
    }
  };
  visit(paths);
  return Object.fromEntries(Object.entries(named).sort(([left], [right]) => left.localeCompare(right)));
}
