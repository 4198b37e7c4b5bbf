/**
 * CORS for browser apps calling latchkey directly (the browser channel). Only origins some project lists are
 * answered: a preflight from any other origin is refused (403 ORIGIN_NOT_ALLOWED, no CORS headers, so the browser
 * stops), and actual responses echo the exact origin with `Vary: Origin`. No cookies are involved, so credentials
 * mode is never allowed. Whether a given key or token may be used from that origin is decided by the credential
 * check, against its own project's list.
 */
import type { Storage } from "../db/storage.ts";
import { findProject, listAllowedOriginsByProject } from "../domain/tenants/store.ts";

const ALLOWED_METHODS = "GET, POST, PATCH, DELETE, OPTIONS";
const ALLOWED_HEADERS = "Authorization, Content-Type, X-Session-Token, X-Project-Id, X-Request-Id, X-Code-Verifier";
const EXPOSED_HEADERS =
  "X-Request-Id, WWW-Authenticate, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, " +
  "RateLimit, RateLimit-Policy";
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/**
 * Every project's allowed origins, held in memory so a preflight is answered without the database. Read in full at
 * start and every minute, and one project again whenever the change log says it changed (in this process, before the
 * change is acknowledged; from other processes or nodes, within the change log's bound).
 */
export class OriginRegistry {
  private byProject = new Map<string, readonly string[]>();
  private listed = new Set<string>();

  constructor(private readonly storage: Storage) {}

  async load(): Promise<void> {
    this.byProject = new Map(await listAllowedOriginsByProject(this.storage.reader));
    this.rebuild();
  }

  /** A project changed: its origins are read again. */
  async refreshProject(projectId: string): Promise<void> {
    const project = await findProject(this.storage.reader, projectId);
    if (project && project.deletedAtMs === null) this.byProject.set(projectId, project.allowedOrigins);
    else this.byProject.delete(projectId);
    this.rebuild();
  }

  isListed(origin: string): boolean {
    return this.listed.has(origin);
  }

  private rebuild(): void {
    this.listed = new Set([...this.byProject.values()].flat());
  }
}

export function corsResponseHeaders(origin: string): Record<string, string> {
  return { "access-control-allow-origin": origin, vary: "Origin", "access-control-expose-headers": EXPOSED_HEADERS };
}

export function preflightHeaders(origin: string): Record<string, string> {
  return {
    "access-control-allow-origin": origin,
    "access-control-allow-methods": ALLOWED_METHODS,
    "access-control-allow-headers": ALLOWED_HEADERS,
    "access-control-max-age": String(PREFLIGHT_MAX_AGE_SECONDS),
    vary: "Origin",
  };
}
