/** Liveness and readiness for process supervisors and orchestrators. */
import { z } from "zod";
import { EMBEDDED_MIGRATIONS } from "../db/migrate.ts";
import { AppError } from "../errors.ts";
import { route } from "../http/route.ts";
import { ErrorResponse } from "../http/wire.ts";

const Health = z.object({ status: z.literal("ok"), version: z.string() });
const Readiness = z.object({ status: z.literal("ready"), migrations: z.number().int() });

export const operationRoutes = [
  route({
    method: "GET",
    path: "/healthz",
    operationId: "health",
    summary: "The process is up.",
    tags: ["operations"],
    credential: "none",
    responses: { 200: Health },
    handle: ({ deps }) => ({ status: "ok" as const, version: deps.settings.version }),
  }),
  route({
    method: "GET",
    path: "/readyz",
    operationId: "readiness",
    summary: "The database answers and carries every migration this binary knows.",
    description: "503 UNAVAILABLE (with Retry-After) while it does not: an orchestrator sends no traffic then.",
    tags: ["operations"],
    credential: "none",
    responses: { 200: Readiness, 503: ErrorResponse },
    handle: ({ deps }) => {
      const row = deps.sqlite.query("SELECT count(*) AS applied FROM latchkey_migrations").get() as { applied: number };
      if (row.applied !== EMBEDDED_MIGRATIONS.length) {
        throw new AppError("UNAVAILABLE", { message: "Not ready: the database is not fully migrated." });
      }
      return { status: "ready" as const, migrations: row.applied };
    },
  }),
];

export const metricsRoutes = [
  route({
    method: "GET",
    path: "/metrics",
    operationId: "metrics",
    summary: "Prometheus metrics: requests by route and status, verification outcomes, cache hits, 429s, latency.",
    tags: ["operations"],
    credential: "none",
    responses: { 200: z.string().describe("Prometheus text exposition format 0.0.4.") },
    handle: ({ deps, responseHeaders }) => {
      responseHeaders["content-type"] = "text/plain; version=0.0.4; charset=utf-8";
      return deps.metrics.render({
        keyCacheHits: deps.credentials.counters.hits,
        keyCacheMisses: deps.credentials.counters.misses,
        keyCacheEntries: deps.credentials.sizes.keys,
        buckets: deps.rateLimiter.size,
        pendingUsage: deps.usage.pendingKeys,
      });
    },
  }),
];
