/** A real latchkey for the SDK's tests: the compiled binary on a fresh SQLite file, with a known root key. */
import { afterAll, beforeAll } from "bun:test";
import { generateSecret, ROOT_KEY_PREFIX } from "../../../src/keys/secret.ts";
import { callJson, type RunningBinary, startBinary, useBuiltBinary } from "../../../test/support/binary.ts";
import { freePort } from "../../../test/support/ports.ts";
import type { Latchkeyd } from "./scenarios.ts";

/** Starts one latchkey for the calling test file (built in beforeAll, stopped in afterAll). */
export function useLatchkeyd(label: string): { readonly server: Latchkeyd; readonly binary: string } {
  const built = useBuiltBinary(label);
  let running: RunningBinary | undefined;
  let server: Latchkeyd | undefined;
  beforeAll(async () => {
    const rootKey = generateSecret(ROOT_KEY_PREFIX);
    // The tokens' issuer is the public URL: the one the SDK is given, so a verifier's default issuer matches.
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    running = await startBinary(built.path, {
      args: ["--db", built.freshDatabasePath(), "--port", String(port), "--public-url", url],
      env: { LATCHKEY_ROOT_KEY: rootKey },
    });
    const projects = await callJson(url, "GET", "/v1/projects", { key: rootKey });
    server = { url, rootKey, projectId: projects.body.data[0].id };
  }, 120_000);
  afterAll(async () => {
    await running?.stop();
  });
  return {
    get server() {
      if (!server) throw new Error("latchkey starts in beforeAll");
      return server;
    },
    get binary() {
      return built.path;
    },
  };
}
