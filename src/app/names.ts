/**
 * Names the command table and its help share with the configuration and the commands, in a file that imports
 * nothing: listing the commands must not load the configuration table (and zod) behind them.
 */
export const DEFAULT_SQLITE_PATH = "./latchkey.db";
/** Set by a primary process for the workers it starts (src/app/workers.ts); not a setting. */
export const WORKER_INDEX_ENV = "LATCHKEY_WORKER_INDEX";
/** The master key `latchkey master-key rotate` seals under; read by that command only, not a setting. */
export const NEW_MASTER_KEY_ENV = "LATCHKEY_NEW_MASTER_KEY";
