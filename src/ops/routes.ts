/** Liveness and readiness for process supervisors and orchestrators. */
import { z } from "zod";
import { CREDENTIAL_READ_DEADLINE_MILLISECONDS } from "../auth/credential-cache.ts";
import { POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS } from "../db/migrate.ts";
import { AppError } from "../errors.ts";
import { route } from "../http/route.ts";
import { ErrorResponse } from "../http/wire.ts";
import { withDeadline } from "../lib/deadline.ts";

const Health = z.object({ status: z.literal("ok"), version: z.string() });
const Readiness = z.object({
  status: z.literal("ready"),
  migrations: z.number().int(),
  workers: z
    .object({ listening: z.number().int(), expected: z.number().int() })
    .describe("Processes serving this port (`--workers N`): ready only while all of them listen."),
});

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
    summary:
      "The database answers, carries every migration this binary knows, this node is in sync, and every worker " +
      "listens.",
    description:
      "503 UNAVAILABLE (with Retry-After) while it is not: the database is unreachable or not fully migrated, or " +
      "(PostgreSQL) this node has not been confirmed in sync with the change log within the last second, or (with " +
      "--workers N) fewer than N processes listen on the port — the message says how many do. An orchestrator " +
      "sends no traffic then.",
    tags: ["operations"],
    credential: "none",
    responses: { 200: Readiness, 503: ErrorResponse },
    handle: async ({ deps }) => {
      const applied = await withDeadline(
        deps.storage.appliedMigrationCount(),
        CREDENTIAL_READ_DEADLINE_MILLISECONDS,
        "the database",
      );
      const known = deps.storage.dialect === "postgres" ? POSTGRES_MIGRATIONS.length : SQLITE_MIGRATIONS.length;
      if (applied !== known) {
        throw new AppError("UNAVAILABLE", { message: "Not ready: the database is not fully migrated." });
      }
      if (!deps.changeLog.inSync()) {
        throw new AppError("UNAVAILABLE", { message: "Not ready: this node is not in sync with the change log." });
      }
      const { listening, expected } = deps.status.workers;
      if (listening < expected) {
        throw new AppError("UNAVAILABLE", {
          message: `Not ready: ${listening} of ${expected} workers listen on the port.`,
        });
      }
      return { status: "ready" as const, migrations: applied, workers: { listening, expected } };
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
        syncLagSeconds: deps.changeLog.syncLagMilliseconds() / 1000,
        inSync: deps.changeLog.inSync(),
        sharedBuckets: deps.rateLimiter.stats?.(),
      });
    },
  }),
];
