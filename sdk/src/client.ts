/**
 * The typed client: `new Latchkey({ baseUrl, key })`. Resources mirror latchkey's HTTP API and take and return its
 * own JSON (snake_case), typed from the OpenAPI document the server serves (src/generated/api.ts). Failures throw
 * LatchkeyError; `verify` never throws for a refusal, which is an answer like any other.
 */
import type { components, operations } from "./generated/api.ts";
import { type CallOptions, Transport, type TransportOptions } from "./transport.ts";

type Operation = keyof operations;
type JsonOf<Content> = Content extends { content: { "application/json": infer Body } } ? Body : never;
/** The JSON body an operation takes. */
export type RequestBody<Name extends Operation> = operations[Name] extends { requestBody?: infer Body }
  ? JsonOf<NonNullable<Body>>
  : never;
/** The JSON of an operation's successful answer. */
export type ResponseBody<Name extends Operation> = operations[Name]["responses"] extends infer Responses
  ? Responses extends { 200: infer Ok }
    ? JsonOf<Ok>
    : Responses extends { 201: infer Created }
      ? JsonOf<Created>
      : never
  : never;
/** The query parameters an operation takes. */
export type QueryOf<Name extends Operation> = operations[Name]["parameters"] extends { query?: infer Query }
  ? NonNullable<Query>
  : never;

type Schemas = components["schemas"];
export type ApiKey = Schemas["ApiKey"];
export type CreatedKey = Schemas["ApiKeyCreated"];
export type Verification = Schemas["VerifyResult"];
export type SessionToken = Schemas["Session"];
export type Tenant = Schemas["Tenant"];
export type Project = Schemas["Project"];
export type AuditEvent = Schemas["AuditEvent"];

export interface LatchkeyOptions extends TransportOptions {
  /** The API key (or root key) the client acts with. */
  key: string;
  /**
   * The project the key must belong to; with the root key, the project to act in. Sent as X-Project-Id to the routes
   * about one project (keys, sessions, verify), never to the root key's routes about all of them (tenants, projects,
   * audit, signing keys), which would refuse it.
   */
  projectId?: string;
}

/** Names no project: `{ projectId: NO_PROJECT }` sends no X-Project-Id on this call, whatever the client's. */
const NO_PROJECT = "none";

/** What a route is about: one project (it takes X-Project-Id), or all of them (the root key's own routes). */
type RouteScope = "project" | "all projects";

/** Per-call options: an AbortSignal. */
export interface CallSignal {
  signal?: AbortSignal;
}

/** Per-call options of a route about one project: the project for this call (or "none"), an AbortSignal. */
export interface RequestOptions extends CallSignal {
  projectId?: string;
}

interface Listed<Item> {
  data: Item[];
  next_cursor: string | null;
}

/**
 * One page of a list, awaited; every page from there on, iterated:
 * `const page = await client.keys.list()`, or `for await (const page of client.keys.list({ limit: 100 }))`.
 */
export class PageRequest<Page extends Listed<unknown>> implements PromiseLike<Page>, AsyncIterable<Page> {
  constructor(private readonly fetchPage: (cursor: string | undefined) => Promise<Page>) {}

  // biome-ignore lint/suspicious/noThenProperty: awaiting a PageRequest is meant to give its first page.
  then<Result1 = Page, Result2 = never>(
    onFulfilled?: ((page: Page) => Result1 | PromiseLike<Result1>) | null,
    onRejected?: ((reason: unknown) => Result2 | PromiseLike<Result2>) | null,
  ): Promise<Result1 | Result2> {
    return this.fetchPage(undefined).then(onFulfilled, onRejected);
  }

  catch<Result = never>(onRejected?: ((reason: unknown) => Result | PromiseLike<Result>) | null) {
    return this.then(undefined, onRejected);
  }

  finally(onFinally?: (() => void) | null): Promise<Page> {
    return this.fetchPage(undefined).finally(onFinally);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Page> {
    let cursor: string | undefined;
    do {
      const page = await this.fetchPage(cursor);
      yield page;
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
  }

  /** Every item of every page, one by one. */
  async *items(): AsyncGenerator<Page["data"][number]> {
    for await (const page of this) yield* page.data as Page["data"][number][];
  }
}

export class Latchkey {
  private readonly transport: Transport;
  private readonly key: string;
  private readonly projectId: string | undefined;

  constructor(options: LatchkeyOptions) {
    if (typeof options.key !== "string" || options.key === "") throw new TypeError("key is required");
    this.transport = new Transport(options);
    this.key = options.key;
    this.projectId = options.projectId;
  }

  /** X-Project-Id, for a route about one project: the call's project, else the client's; nothing for "none". */
  private projectHeader(options: RequestOptions): Record<string, string> {
    const projectId = options.projectId ?? this.projectId;
    return projectId === undefined || projectId === NO_PROJECT ? {} : { "x-project-id": projectId };
  }

  /**
   * A call made with the client's key. `route` says what the route is about: one project (X-Project-Id is sent), or
   * every project, as the root key's tenant, project, audit and signing-key routes are (it is not: they refuse it).
   */
  private call<Body>(
    method: string,
    path: string,
    { projectId, ...options }: RequestOptions & CallOptions = {},
    route: RouteScope = "project",
  ): Promise<Body> {
    const project = route === "project" ? this.projectHeader({ projectId }) : {};
    return this.transport.call<Body>(method, path, {
      ...options,
      key: this.key,
      headers: { ...project, ...options.headers },
    });
  }

  private list<Name extends Operation>(
    path: string,
    query: QueryOf<Name>,
    options: RequestOptions,
    route: RouteScope = "project",
  ) {
    type Page = ResponseBody<Name> & Listed<unknown>;
    return new PageRequest<Page>((cursor) =>
      this.call<Page>(
        "GET",
        path,
        { ...options, query: { ...(query as object), ...(cursor ? { cursor } : {}) } },
        route,
      ),
    );
  }

  readonly keys = {
    create: (body: RequestBody<"createKey">, options: RequestOptions = {}) =>
      this.call<CreatedKey>("POST", "/v1/keys", { ...options, body }),
    get: (id: string, options: RequestOptions = {}) => this.call<ApiKey>("GET", `/v1/keys/${segment(id)}`, options),
    list: (query: QueryOf<"listKeys"> = {}, options: RequestOptions = {}) =>
      this.list<"listKeys">("/v1/keys", query, options),
    update: (id: string, body: RequestBody<"updateKey">, options: RequestOptions = {}) =>
      this.call<ResponseBody<"updateKey">>("PATCH", `/v1/keys/${segment(id)}`, { ...options, body }),
    revoke: (id: string, options: RequestOptions = {}) =>
      this.call<ResponseBody<"revokeKey">>("DELETE", `/v1/keys/${segment(id)}`, options),
    rotate: (id: string, body: RequestBody<"rotateKey"> = {}, options: RequestOptions = {}) =>
      this.call<ResponseBody<"rotateKey">>("POST", `/v1/keys/${segment(id)}/rotate`, { ...options, body }),
    /** Which key is this? The record of the key a secret belongs to, never the secret; 404 for any other. */
    whoami: (secret: string, options: RequestOptions = {}) =>
      this.call<ApiKey>("POST", "/v1/keys/whoami", { ...options, body: { key: secret } }),
    /** The key's decisions by outcome (VALID or the refusing code), per UTC hour or day, oldest first. */
    usage: (id: string, query: QueryOf<"getKeyUsage"> = {}, options: RequestOptions = {}) =>
      this.call<ResponseBody<"getKeyUsage">>("GET", `/v1/keys/${segment(id)}/usage`, { ...options, query }),
  };

  readonly sessions = {
    /** A session token for one of your end users, minted from this client's key. */
    create: (body: RequestBody<"createSession">, options: RequestOptions = {}) =>
      this.call<SessionToken>("POST", "/v1/sessions", { ...options, body }),
  };

  readonly tenants = {
    create: (body: RequestBody<"createTenant">, options: CallSignal = {}) =>
      this.call<ResponseBody<"createTenant">>("POST", "/v1/tenants", { ...options, body }, "all projects"),
    get: (id: string, options: CallSignal = {}) =>
      this.call<Tenant>("GET", `/v1/tenants/${segment(id)}`, options, "all projects"),
    list: (query: QueryOf<"listTenants"> = {}, options: CallSignal = {}) =>
      this.list<"listTenants">("/v1/tenants", query, options, "all projects"),
    update: (id: string, body: RequestBody<"updateTenant">, options: CallSignal = {}) =>
      this.call<ResponseBody<"updateTenant">>(
        "PATCH",
        `/v1/tenants/${segment(id)}`,
        { ...options, body },
        "all projects",
      ),
    /** Deletes the tenant and its projects (their keys revoked); the record stays, with `deleted_at`. */
    delete: (id: string, options: CallSignal = {}) =>
      this.call<ResponseBody<"deleteTenant">>("DELETE", `/v1/tenants/${segment(id)}`, options, "all projects"),
  };

  readonly projects = {
    create: (body: RequestBody<"createProject">, options: CallSignal = {}) =>
      this.call<ResponseBody<"createProject">>("POST", "/v1/projects", { ...options, body }, "all projects"),
    get: (id: string, options: CallSignal = {}) =>
      this.call<Project>("GET", `/v1/projects/${segment(id)}`, options, "all projects"),
    list: (query: QueryOf<"listProjects"> = {}, options: CallSignal = {}) =>
      this.list<"listProjects">("/v1/projects", query, options, "all projects"),
    update: (id: string, body: RequestBody<"updateProject">, options: CallSignal = {}) =>
      this.call<ResponseBody<"updateProject">>(
        "PATCH",
        `/v1/projects/${segment(id)}`,
        { ...options, body },
        "all projects",
      ),
    /** Deletes the project (its keys revoked); the record stays, with `deleted_at`. */
    delete: (id: string, options: CallSignal = {}) =>
      this.call<ResponseBody<"deleteProject">>("DELETE", `/v1/projects/${segment(id)}`, options, "all projects"),
  };

  readonly audit = {
    list: (query: QueryOf<"listAuditEvents"> = {}, options: CallSignal = {}) =>
      this.list<"listAuditEvents">("/v1/audit", query, options, "all projects"),
  };

  readonly signingKeys = {
    list: (options: CallSignal = {}) =>
      this.call<ResponseBody<"listSigningKeys">>("GET", "/v1/signing-keys", options, "all projects"),
    rotate: (body: RequestBody<"rotateSigningKey"> = {}, options: CallSignal = {}) =>
      this.call<ResponseBody<"rotateSigningKey">>(
        "POST",
        "/v1/signing-keys/rotate",
        { ...options, body },
        "all projects",
      ),
  };

  /**
   * May this key (or session token) do this? Always latchkey's answer: `{valid:false, code:"API_KEY_REVOKED", …}`
   * for a refusal, never a throw; only a malformed request or an unreachable latchkey throws. Needs no credential of
   * its own beyond the one checked.
   */
  verify(body: RequestBody<"verifyCredential">, options: RequestOptions = {}): Promise<Verification> {
    const { projectId, ...rest } = options;
    return this.transport.call<Verification>("POST", "/v1/keys/verify", {
      ...rest,
      body,
      headers: this.projectHeader({ projectId }),
    });
  }
}

/** An id as one path segment: never a way to reach another route. */
function segment(id: string): string {
  if (typeof id !== "string" || id === "") throw new TypeError("an id is required");
  return encodeURIComponent(id);
}
