/** Liveness and readiness for process supervisors and orchestrators. */
import { z } from "zod";
import { CREDENTIAL_READ_DEADLINE_MILLISECONDS } from "../../auth/credential-cache.ts";
import { POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS, schemaState } from "../../db/migrate.ts";
import { route } from "../../http/route.ts";
import { ErrorResponse } from "../../http/wire.ts";
import { withDeadline } from "../../lib/deadline.ts";
import { AppError } from "../../lib/errors.ts";

const Health = z.object({ status: z.literal("ok"), version: z.string() }).meta({ id: "Health" });
const Readiness = z
  .object({
    status: z.literal("ready"),
    migrations: z.number().int().describe("Migrations applied that this binary carries: all of them, when ready."),
    newer_migrations: z
      .number()
      .int()
      .describe("Additive migrations of a newer latchkey this binary runs beside (a rolling upgrade under way)."),
    workers: z
      .object({ listening: z.number().int(), expected: z.number().int() })
      .describe("Processes serving this port (`--workers N`): ready only while all of them listen."),
  })
  .meta({ id: "Readiness" });

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
      "A database a newer latchkey migrated with additive changes is ready (newer_migrations says how many). " +
      "503 UNAVAILABLE (with Retry-After) while it is not: the database is unreachable, not fully migrated, or " +
      "migrated by a newer latchkey with a change this one cannot run beside, or " +
      "(PostgreSQL) this node has not been confirmed in sync with the change log within the last second, or (with " +
      "--workers N) fewer than N processes listen on the port — the message says how many do. An orchestrator " +
      "sends no traffic then.",
    tags: ["operations"],
    credential: "none",
    responses: { 200: Readiness, 503: ErrorResponse },
    handle: async ({ deps }) => {
      const applied = await withDeadline(
        deps.storage.appliedMigrations(),
        CREDENTIAL_READ_DEADLINE_MILLISECONDS,
        "the database",
      );
      const known = deps.storage.dialect === "postgres" ? POSTGRES_MIGRATIONS : SQLITE_MIGRATIONS;
      const schema = schemaState(applied, known);
      if (schema.refusal !== null) {
        throw new AppError("UNAVAILABLE", {
          message: "Not ready: the database was migrated by a newer latchkey this version cannot run beside.",
        });
      }
      if (schema.missing.length > 0) {
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
      return {
        status: "ready" as const,
        migrations: known.length,
        newer_migrations: schema.newer.length,
        workers: { listening, expected },
      };
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
