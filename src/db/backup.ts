/**
 * Backing up and restoring the SQLite file (`latchkey backup`, `latchkey restore`). PostgreSQL has its own tools,
 * pg_dump and pg_restore (docs/operations.md).
 *
 * Backup: `VACUUM INTO` a new file, while servers run and write. It reads inside one read transaction, so the copy
 * is the database as of one commit: every write acknowledged before the backup began is in it, none is half in it,
 * and writers are never blocked (WAL). The copy is a standalone file in rollback-journal mode, with no -wal beside
 * it, created readable by its owner only and synced before the command reports success.
 *
 * Restore: the servers are stopped first. Any -wal and -shm left beside the target belong to the file being
 * replaced; SQLite would replay that log into the restored file and corrupt it, so the old file is first taken out
 * of WAL mode (which only succeeds when no other connection has it open: a running server is detected that way),
 * then moved aside, and the copy is renamed into place whole.
 */
import { Database } from "bun:sqlite";
import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  openSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { dirname } from "node:path";

export class BackupError extends Error {
  override name = "BackupError";
}

export interface BackupReport {
  bytes: number;
  apiKeys: number;
  signingKeys: number;
  /** Signing keys whose private half is stored in the clear (no LATCHKEY_MASTER_KEY sealed them). */
  unsealedSigningKeys: number;
}

const OWNER_ONLY = 0o600;

/** Tells a sealed private signing key from one stored in the clear (the sessions layer knows the format). */
export type IsSealed = (storedPrivateKey: string) => boolean;

/** A consistent copy of the latchkey database at `sourcePath` in the new file `targetPath`. */
export function backupSqlite(sourcePath: string, targetPath: string, isSealed: IsSealed): BackupReport {
  if (!existsSync(sourcePath)) throw new BackupError(`no SQLite database at ${sourcePath} (give it with --db)`);
  if (existsSync(targetPath)) throw new BackupError(`${targetPath} already exists; back up to a new file`);
  // A plain connection: a backup changes nothing of the source, not even its journal mode.
  const source = new Database(sourcePath, { readwrite: true, create: false, strict: true });
  source.run("PRAGMA busy_timeout = 5000");
  try {
    checkIsLatchkey(source, sourcePath);
    // VACUUM INTO takes an empty file: created here first, so that it is the owner's only from its first byte.
    createOwnerOnly(targetPath);
    try {
      source.query("VACUUM INTO ?").run(targetPath);
      syncFile(targetPath);
      return inspect(targetPath, isSealed);
    } catch (error) {
      rmSync(targetPath, { force: true });
      throw error;
    }
  } finally {
    source.close();
  }
}

export interface RestoreReport extends BackupReport {
  /** Where the file that was replaced now is; null when there was none. */
  replacedMovedTo: string | null;
}

/** Puts the backup `backupPath` in place of the database file `targetPath` (no server may have it open). */
export function restoreSqlite(
  backupPath: string,
  targetPath: string,
  isSealed: IsSealed,
  nowMilliseconds: number,
): RestoreReport {
  if (!existsSync(backupPath)) throw new BackupError(`no backup at ${backupPath}`);
  if (existsSync(targetPath) && realpathSync(targetPath) === realpathSync(backupPath)) {
    throw new BackupError("the backup and the database are the same file");
  }
  const backup = inspect(backupPath, isSealed);
  let replacedMovedTo: string | null = null;
  if (existsSync(targetPath)) {
    takeOutOfWal(targetPath);
    replacedMovedTo = `${targetPath}.before-restore-${nowMilliseconds}`;
    renameSync(targetPath, replacedMovedTo);
  }
  // Whatever is still beside the target name belongs to no database that will be opened there again.
  for (const suffix of ["-wal", "-shm", "-journal"]) rmSync(`${targetPath}${suffix}`, { force: true });
  const staging = `${targetPath}.restoring-${nowMilliseconds}`;
  createOwnerOnly(staging);
  copyFileSync(backupPath, staging);
  syncFile(staging);
  renameSync(staging, targetPath);
  syncFile(dirname(targetPath));
  return { ...backup, replacedMovedTo };
}

/** Fails unless the file is a whole SQLite database that latchkey created; counts what a report names. */
function inspect(path: string, isSealed: IsSealed): BackupReport {
  const sqlite = new Database(path, { readonly: true, strict: true });
  try {
    const check = sqlite.query("PRAGMA integrity_check").all() as { integrity_check: string }[];
    if (check.length !== 1 || check[0]!.integrity_check !== "ok") {
      throw new BackupError(`${path} is damaged (SQLite's integrity check failed)`);
    }
    checkIsLatchkey(sqlite, path);
    const keys = sqlite.query("SELECT count(*) AS n FROM api_keys").get() as { n: number };
    const signing = sqlite.query("SELECT private_key FROM signing_keys").all() as { private_key: string }[];
    return {
      bytes: statSync(path).size,
      apiKeys: keys.n,
      signingKeys: signing.length,
      unsealedSigningKeys: signing.filter((row) => !isSealed(row.private_key)).length,
    };
  } catch (error) {
    if (error instanceof BackupError) throw error;
    throw new BackupError(`${path} is not a latchkey database (${error instanceof Error ? error.message : error})`);
  } finally {
    sqlite.close();
  }
}

function checkIsLatchkey(sqlite: Database, path: string): void {
  const found = sqlite
    .query(
      "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN ('latchkey_migrations', 'api_keys')",
    )
    .get() as { n: number };
  if (found.n !== 2) throw new BackupError(`${path} is not a latchkey database`);
}

/** Checkpoints and leaves WAL mode: SQLite refuses while any other connection (a running server) has the file. */
function takeOutOfWal(path: string): void {
  const sqlite = new Database(path, { strict: true });
  try {
    sqlite.run("PRAGMA busy_timeout = 1000");
    sqlite.query("PRAGMA journal_mode = DELETE").get();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/locked|busy/i.test(message)) {
      throw new BackupError(`${path} is in use: stop every latchkey serving it, then restore`);
    }
    throw new BackupError(`${path} cannot be replaced safely (${message}); move it away, then restore`);
  } finally {
    sqlite.close();
  }
}

/** A new, empty file readable by its owner only; it must not exist yet. */
function createOwnerOnly(path: string): void {
  try {
    closeSync(openSync(path, "wx", OWNER_ONLY));
  } catch (error) {
    throw new BackupError(`cannot create ${path} (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
}

function syncFile(path: string): void {
  const descriptor = openSync(path, "r");
  try {
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
}
