/**
 * CORS for browser apps calling latchkey directly (the browser channel). Only origins some project lists are
 * answered: a preflight from any other origin is refused (403 ORIGIN_NOT_ALLOWED, no CORS headers, so the browser
 * stops), and actual responses echo the exact origin with `Vary: Origin`. No cookies are involved, so credentials
 * mode is never allowed. Whether a given key or token may be used from that origin is decided by the credential
 * check, against its own project's list.
 */
import type { Db } from "../db/client.ts";
import { listAllowedOriginsOfAllProjects } from "../tenants/store.ts";

const REFRESH_INTERVAL_MILLISECONDS = 1_000;
const ALLOWED_METHODS = "GET, POST, PATCH, DELETE, OPTIONS";
const ALLOWED_HEADERS = "Authorization, Content-Type, X-Session-Token, X-Project-Id, X-Request-Id, X-Code-Verifier";
const EXPOSED_HEADERS =
  "X-Request-Id, WWW-Authenticate, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, " +
  "RateLimit, RateLimit-Policy";
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/** The union of all projects' allowed origins, re-read at most once a second (other processes may change it). */
export class OriginRegistry {
  private origins = new Set<string>();
  private loadedAtMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly db: Db) {}

  isListed(origin: string, nowMilliseconds: number): boolean {
    if (nowMilliseconds - this.loadedAtMs >= REFRESH_INTERVAL_MILLISECONDS || nowMilliseconds < this.loadedAtMs) {
      this.origins = new Set(listAllowedOriginsOfAllProjects(this.db));
      this.loadedAtMs = nowMilliseconds;
    }
    return this.origins.has(origin);
  }

  /** A project in this process changed its origins: the next check re-reads them. */
  invalidate(): void {
    this.loadedAtMs = Number.NEGATIVE_INFINITY;
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
