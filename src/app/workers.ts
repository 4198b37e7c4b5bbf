/**
 * Several processes serving one port: `latchkey serve --workers N`. The process started is the primary; it serves
 * like any other and starts N − 1 workers, the same binary, which bind the same port (SO_REUSEPORT: on Linux the
 * kernel spreads new connections over them). The primary restarts a worker that dies; a worker whose primary is gone
 * shuts down.
 *
 * Still one latchkey, not N:
 * - Buckets. Without Redis, the primary is the one authority for every bucket: workers lease tokens from it over IPC
 *   with the rule Redis uses between nodes (src/domain/ratelimit/shared.ts, leaseTokens), so together the workers
 *   admit at most `limit + rate × T` over any interval T, never N× the limit. A lease costs one message; most
 *   decisions are answered from a lease in memory. With Redis, every worker leases from Redis like a node.
 * - Revocation. A change committed by any process is relayed by the primary to every other at once (and each reads
 *   the change log or LISTENs anyway, the bound it has alone).
 * - Failed authentications. Each process tells the others when it counts one (at most once a second), so none
 *   answers a throttled address from its fast lane; the failure buckets themselves are shared like any other.
 * - Readiness. Each worker tells the primary once it listens, and the primary tells every process how many do; each
 *   answers /readyz 200 only while all N listen (while one is starting, or restarting after it died, 503 "k of N").
 */
import type { Subprocess } from "bun";
import type { ChangedEntity } from "../db/storage.ts";
import type { RateLimitPolicy } from "../domain/ratelimit/bucket.ts";
import { type LeaseResult, type LeaseSource, LiveNodes, LocalLeaseSource } from "../domain/ratelimit/lease-source.ts";
import { RateLimiter } from "../domain/ratelimit/limiter.ts";
import { SharedRateLimiter } from "../domain/ratelimit/shared.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../lib/logger.ts";
import type { ServerConfig } from "./config.ts";
import { WORKER_INDEX_ENV } from "./names.ts";
import { PortInUseError, type RunningServer, startServer } from "./server.ts";

type Message =
  | { kind: "lease"; id: number; name: string; policy: RateLimitPolicy; want: number; now: number }
  | { kind: "beat"; id: number; nodeId: string }
  | { kind: "reply"; id: number; value: LeaseResult | number }
  | { kind: "change"; entity: ChangedEntity; entityId: string }
  | { kind: "failure"; at: number }
  /** A worker listens on the port; the primary answers every process with how many do now. */
  | { kind: "listening" }
  | { kind: "workers"; listening: number };

const RESTART_DELAY_MILLISECONDS = 1_000;
const STOP_GRACE_MILLISECONDS = 10_000;
/** A process tells its siblings of failed authentications at most this often. */
const FAILURE_RELAY_INTERVAL_MILLISECONDS = 1_000;

/** The primary: serves, starts the workers, and is the authority of their shared state. */
export async function servePrimary(
  config: ServerConfig,
  flags: readonly string[],
  logger: Logger,
  clock: Clock,
  printOnce: (text: string) => void,
): Promise<RunningServer> {
  await ensurePortIsFree(config);
  const authority = new RateLimiter({ maxBuckets: config.ratelimitBuckets });
  const nodes = new LiveNodes();
  const rateLimiter =
    config.redisUrl === undefined
      ? await SharedRateLimiter.start(new LocalLeaseSource(authority, nodes), logger, config.ratelimitBuckets)
      : undefined;
  const primary = await startServer(config, logger, clock, printOnce, {
    reusePort: true,
    rateLimiter,
    workerIndex: 0,
    workers: { listening: 1, expected: config.workers },
  });
  const workers = new Map<number, Subprocess>();
  const listening = new Set<number>();
  let stopping = false;
  const relay = (message: Message, except: number | null) => {
    for (const [index, worker] of workers) if (index !== except) worker.send(message);
  };
  const countListening = () => {
    primary.deps.status.workers.listening = 1 + listening.size;
    relay({ kind: "workers", listening: 1 + listening.size }, null);
  };
  primary.deps.changeLog.onCommitted = (entity, entityId) => relay({ kind: "change", entity, entityId }, null);
  primary.deps.authFailures.onNoted = throttled((at) => relay({ kind: "failure", at }, null));

  const handle = (index: number, message: Message, worker: Subprocess) => {
    if (message.kind === "lease") {
      const value = authority.lease(message.name, message.policy, message.want, message.now);
      worker.send({ kind: "reply", id: message.id, value } satisfies Message);
    } else if (message.kind === "beat") {
      worker.send({ kind: "reply", id: message.id, value: nodes.beat(message.nodeId, Date.now()) } satisfies Message);
    } else if (message.kind === "change") {
      primary.deps.changeLog.applyRelayed(message.entity, message.entityId);
      relay(message, index);
    } else if (message.kind === "failure") {
      primary.deps.authFailures.noteFailure(message.at, true);
      relay(message, index);
    } else if (message.kind === "listening") {
      listening.add(index);
      countListening();
    }
  };
  const start = (index: number) => {
    const worker = Bun.spawn([...selfCommand(), "serve", ...flags, "--port", String(primary.port)], {
      env: { ...process.env, [WORKER_INDEX_ENV]: String(index) },
      stdio: ["ignore", "inherit", "inherit"],
      ipc: (message, subprocess) => handle(index, message as Message, subprocess),
    });
    workers.set(index, worker);
    void worker.exited.then((code) => {
      workers.delete(index);
      if (stopping) return;
      if (listening.delete(index)) countListening();
      logger.error("worker exited; starting it again", { worker: index, exit_code: code });
      setTimeout(() => {
        if (!stopping) start(index);
      }, RESTART_DELAY_MILLISECONDS);
    });
  };
  for (let index = 1; index < config.workers; index++) start(index);
  logger.info("workers started", { workers: config.workers, shared_buckets: config.redisUrl ? "redis" : "primary" });
  return {
    ...primary,
    stop: async () => {
      stopping = true;
      await Promise.all(
        [...workers.values()].map(async (worker) => {
          worker.kill("SIGTERM");
          const timer = setTimeout(() => worker.kill("SIGKILL"), STOP_GRACE_MILLISECONDS);
          await worker.exited;
          clearTimeout(timer);
        }),
      );
      await primary.stop();
    },
  };
}

/** A worker: serves the primary's port, leases from it, and relays its changes and failures through it. */
export async function serveWorker(
  config: ServerConfig,
  index: number,
  logger: Logger,
  clock: Clock,
  onPrimaryGone: () => void,
): Promise<RunningServer> {
  const send = (message: Message) => process.send?.(message);
  const source = new IpcLeaseSource(send);
  let server: RunningServer | undefined;
  // Not ready until the primary says every process listens, this one included.
  const readiness = { listening: 0, expected: config.workers };
  // Listening first: the limiter's first heartbeats are answered before the server exists.
  process.on("message", (message: Message) => {
    if (message.kind === "reply") source.answer(message.id, message.value);
    else if (message.kind === "change") server?.deps.changeLog.applyRelayed(message.entity, message.entityId);
    else if (message.kind === "failure") server?.deps.authFailures.noteFailure(message.at, true);
    else if (message.kind === "workers") readiness.listening = message.listening;
  });
  process.on("disconnect", onPrimaryGone);
  const rateLimiter =
    config.redisUrl === undefined ? await SharedRateLimiter.start(source, logger, config.ratelimitBuckets) : undefined;
  server = await startServer(config, logger, clock, () => {}, {
    reusePort: true,
    rateLimiter,
    workerIndex: index,
    workers: readiness,
  });
  server.deps.changeLog.onCommitted = (entity, entityId) => send({ kind: "change", entity, entityId });
  server.deps.authFailures.onNoted = throttled((at) => send({ kind: "failure", at }));
  send({ kind: "listening" });
  const started = server;
  return {
    ...started,
    stop: async () => {
      await started.stop();
      // The IPC channel would keep this process alive: a worker that stopped lets go of its primary.
      process.off("disconnect", onPrimaryGone);
      process.disconnect?.();
    },
  };
}

/** Leases and heartbeats asked of the primary over IPC. */
class IpcLeaseSource implements LeaseSource {
  readonly name = "the primary process";
  // The primary is on this host and alive (else this worker is stopping): a late answer means a busy primary, worth
  // waiting for; past the deadline the worker refuses rather than admit on its own.
  readonly deadlineMilliseconds = 2_000;
  readonly whenUnanswered = "refuse";
  private nextId = 0;
  private readonly waiting = new Map<number, (value: LeaseResult | number) => void>();

  constructor(private readonly send: (message: Message) => void) {}

  lease(name: string, policy: RateLimitPolicy, want: number, nowMilliseconds: number): Promise<LeaseResult> {
    return this.ask((id) => ({ kind: "lease", id, name, policy, want, now: nowMilliseconds })) as Promise<LeaseResult>;
  }

  beat(nodeId: string): Promise<number> {
    return this.ask((id) => ({ kind: "beat", id, nodeId })) as Promise<number>;
  }

  answer(id: number, value: LeaseResult | number): void {
    this.waiting.get(id)?.(value);
    this.waiting.delete(id);
  }

  reconnect(): void {
    // Answers that will never come (the primary was busy past the deadline) are forgotten rather than kept.
    if (this.waiting.size > 10_000) this.waiting.clear();
  }

  async close(): Promise<void> {
    this.waiting.clear();
  }

  private ask(message: (id: number) => Message): Promise<LeaseResult | number> {
    const id = ++this.nextId;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.send(message(id));
    });
  }
}

/** The same binary, run again: the executable itself when compiled, else Bun and this program's entry file. */
function selfCommand(): string[] {
  return Bun.main.startsWith("/$bunfs/") ? [process.execPath] : [process.execPath, Bun.main];
}

/**
 * With SO_REUSEPORT a second latchkey would join a taken port silently: the primary first checks nobody listens on
 * it (a fixed port; port 0 is a new one anyway).
 */
async function ensurePortIsFree(config: ServerConfig): Promise<void> {
  if (config.port === 0) return;
  try {
    const probe = Bun.listen({ hostname: config.host, port: config.port, socket: { data() {} } });
    probe.stop(true);
  } catch (error) {
    if ((error as { code?: string }).code === "EADDRINUSE") {
      throw new PortInUseError(`port ${config.port} on ${config.host} is already in use; is latchkey already running?`);
    }
    throw error;
  }
}

function throttled(tell: (at: number) => void): (at: number) => void {
  let lastTold = Number.NEGATIVE_INFINITY;
  return (at) => {
    if (at - lastTold < FAILURE_RELAY_INTERVAL_MILLISECONDS) return;
    lastTold = at;
    tell(at);
  };
}
