/**
 * The contract every answer keeps, whatever the request: read from the document (/openapi.json), so both fuzzers
 * check the same things. An answer must be one of the statuses its operation lists, never a 5xx, carry X-Request-Id,
 * match the documented schema for its status, show no internal detail, and have only header values an HTTP peer
 * accepts (visible ASCII, spaces and tabs).
 */
import Ajv2020, { type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import type { Answer, World } from "./world.ts";

export interface Operation {
  method: string;
  /** The document's path template, e.g. /v1/keys/{id}. */
  path: string;
  pathParameters: string[];
  queryParameters: string[];
  bodyMediaType: string | null;
  bodyProperties: string[];
  responses: Map<number, ValidateFunction | null>;
}

/** Traces of internals that must never reach a client. */
const INTERNAL_DETAIL =
  /\bat [^\s]+ \(|\.ts:\d+|node_modules|SQLITE_|TypeError|ReferenceError|SyntaxError|drizzle|elysia|\bstack\b/i;
const VALID_HEADER_VALUE = /^[\x20-\x7e\t]*$/;

export async function loadOperations(world: World): Promise<Operation[]> {
  const document = (await world.call("GET", "/openapi.json")).body;
  const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: true });
  addFormats(ajv);
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries<Record<string, any>>(document.paths)) {
    for (const [method, operation] of Object.entries<any>(item)) {
      const parameters: { name: string; in: string }[] = operation.parameters ?? [];
      const body = operation.requestBody?.content ?? {};
      const bodyMediaType = Object.keys(body)[0] ?? null;
      const responses = new Map<number, ValidateFunction | null>();
      for (const [status, response] of Object.entries<any>(operation.responses ?? {})) {
        const schema = response.content?.["application/json"]?.schema;
        // The schema's references point into the document's components: they travel with it.
        responses.set(Number(status), schema ? ajv.compile({ ...schema, components: document.components }) : null);
      }
      operations.push({
        method: method.toUpperCase(),
        path,
        pathParameters: parameters.filter((parameter) => parameter.in === "path").map((parameter) => parameter.name),
        queryParameters: parameters.filter((parameter) => parameter.in === "query").map((parameter) => parameter.name),
        bodyMediaType,
        bodyProperties: bodyMediaType ? Object.keys(body[bodyMediaType].schema?.properties ?? {}) : [],
        responses,
      });
    }
  }
  return operations;
}

/** Throws, naming the request, when the answer breaks the contract. */
export function checkAnswer(operation: Operation, where: string, answer: Answer): void {
  const described = `${where} → ${answer.status}`;
  if (answer.status >= 500) throw new Error(`5xx: ${described}: ${answer.text.slice(0, 300)}`);
  if (!operation.responses.has(answer.status)) throw new Error(`undocumented status: ${described}`);
  if (!answer.headers.get("x-request-id")) throw new Error(`no X-Request-Id: ${described}`);
  for (const [name, value] of answer.headers) {
    if (!VALID_HEADER_VALUE.test(value)) throw new Error(`header ${name} is not valid ASCII: ${described}`);
  }
  if (INTERNAL_DETAIL.test(answer.text) && !operation.path.startsWith("/device")) {
    throw new Error(`internal detail leaked: ${described}: ${answer.text.slice(0, 300)}`);
  }
  const validate = operation.responses.get(answer.status);
  if (validate && (answer.headers.get("content-type") ?? "").includes("json") && !validate(answer.body)) {
    throw new Error(
      `body does not match the documented schema: ${described}: ${JSON.stringify(validate.errors).slice(0, 400)}`,
    );
  }
}
