/**
 * What the app is built from. `createApp(deps)` uses nothing else, so tests build it with an in-memory database,
 * a manual clock and a captured logger, and main.ts builds it from the environment.
 */
import type { Database } from "bun:sqlite";
import type { Db } from "./db/client.ts";
import type { Clock } from "./lib/clock.ts";
import type { Logger } from "./lib/logger.ts";

export interface AppSettings {
  /** The URL clients reach latchkey at; used in verification links and as the token issuer. */
  publicUrl: string;
  /** Largest request body accepted, in bytes. */
  bodyLimitBytes: number;
  version: string;
}

export interface AppDeps {
  db: Db;
  sqlite: Database;
  clock: Clock;
  logger: Logger;
  settings: AppSettings;
}
