/**
 * `@latchkey/sdk/node`: storing a CLI's key on disk, readable by its owner only. Node built-ins live here, never in
 * the core, which runs wherever fetch does.
 */
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/** Writes the key to `path` with mode 0600 (its folder 0700 when created), replacing any file there atomically. */
export async function saveKeyFile(path: string, apiKey: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${apiKey}\n`, { mode: 0o600, flag: "w" });
  // The mode given to writeFile is cut by the umask, and ignored for a file that already existed.
  await chmod(temporary, 0o600);
  await rename(temporary, path);
}

/** The key saved at `path`, or null when there is none. */
export async function readKeyFile(path: string): Promise<string | null> {
  try {
    return (await readFile(path, "utf8")).trim() || null;
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return null;
    throw error;
  }
}
