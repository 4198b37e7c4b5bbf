/** `latchkey serve`: running the server, alone or as the primary or a worker of --workers. */
import { MigrationError } from "../../db/migrate.ts";
import { RedisUnreachableError } from "../../domain/ratelimit/redis-unreachable.ts";
import { MasterKeyError } from "../../domain/sessions/key-encryption.ts";
import { systemClock } from "../../lib/clock.ts";
import { createLogger } from "../../lib/logger.ts";
import type { ServerConfig } from "../config.ts";
import { WORKER_INDEX_ENV } from "../names.ts";
import { DatabaseUnreachableError, PortInUseError, type RunningServer, startServer } from "../server.ts";
import { type CommandContext, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "./command.ts";
import { withConfig } from "./kit.ts";

export function serve(args: string[], context: CommandContext): Promise<number> {
  return withConfig(args, context, (config) => serveWith(config, args, context));
}

async function serveWith(config: ServerConfig, flags: readonly string[], context: CommandContext): Promise<number> {
  const logger = createLogger(config.logLevel);
  const printOnce = (text: string) => context.stdout(`${text}\n`);
  const workerIndex = context.env[WORKER_INDEX_ENV];
  let stopped: () => void = () => {};
  let server: RunningServer;
  try {
    if (workerIndex !== undefined) {
      // The primary that started this worker is gone: nobody would restart or stop it, so it stops.
      const gone = () => {
        logger.warn("the primary process is gone; stopping");
        server.stop().finally(stopped);
      };
      const { serveWorker } = await import("../workers.ts");
      server = await serveWorker(config, Number(workerIndex), logger, systemClock, gone);
    } else if (config.workers > 1) {
      const { servePrimary } = await import("../workers.ts");
      server = await servePrimary(config, flags, logger, systemClock, printOnce);
    } else {
      server = await startServer(config, logger, systemClock, printOnce);
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // A missing or wrong master key is configuration, like a bad setting: one line, exit 2.
    if (error instanceof MasterKeyError) {
      context.stderr(`latchkey: ${message}\n`);
      return EXIT_USAGE;
    }
    // Expected start-up failures are one clear line; anything else also names itself, without a source dump.
    const expected =
      error instanceof PortInUseError ||
      error instanceof DatabaseUnreachableError ||
      error instanceof MigrationError ||
      error instanceof RedisUnreachableError;
    context.stderr(`latchkey: ${expected ? "" : "failed to start: "}${message}\n`);
    return EXIT_FAILED;
  }
  const running = server;
  await new Promise<void>((resolve) => {
    stopped = resolve;
    const shutdown = (signal: string) => {
      logger.info("shutting down", { signal });
      running.stop().finally(resolve);
    };
    process.once("SIGINT", () => shutdown("SIGINT"));
    process.once("SIGTERM", () => shutdown("SIGTERM"));
  });
  return EXIT_OK;
}
