/** The compiled binary in tests: built once per test file, with fresh database files beside it. */
import { afterAll, beforeAll } from "bun:test";
import { join } from "node:path";
import { buildBinary, makeTempDir } from "./run-binary.ts";

export { callJson, makeTempDir, type RunningBinary, runBinary, startBinary } from "./run-binary.ts";

/**
 * Builds the binary once for the calling test file into a temporary folder (removed afterwards) and hands out fresh
 * database paths in that folder.
 */
export function useBuiltBinary(label: string) {
  let workspace: ReturnType<typeof makeTempDir> | undefined;
  let binary: string | undefined;
  beforeAll(() => {
    workspace = makeTempDir(label);
    binary = buildBinary(join(workspace.path, "latchkey"));
  }, 120_000);
  afterAll(() => workspace?.remove());
  return {
    get path(): string {
      if (!binary) throw new Error("the binary is built in beforeAll");
      return binary;
    },
    freshDatabasePath: () => join(workspace!.path, `${crypto.randomUUID()}.db`),
  };
}
