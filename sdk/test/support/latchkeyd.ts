/**
 * A real latchkey for the SDK's tests: the compiled binary on a fresh SQLite file, with a known root key, started as a
 * new user starts it: no --public-url, so its tokens' issuer is http://localhost:<port> while the SDK reaches it at
 * http://127.0.0.1:<port>, as beside a sidecar.
 */
import { afterAll, beforeAll } from "bun:test";
import { generateSecret, ROOT_KEY_PREFIX } from "../../../src/domain/keys/secret.ts";
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
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    running = await startBinary(built.path, {
      args: ["--db", built.freshDatabasePath(), "--port", String(port)],
      env: { LATCHKEY_ROOT_KEY: rootKey },
    });
    const projects = await callJson(url, "GET", "/v1/projects", { key: rootKey });
    server = { url, publicUrl: `http://localhost:${port}`, rootKey, projectId: projects.body.data[0].id };
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
