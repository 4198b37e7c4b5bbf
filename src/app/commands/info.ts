/** `latchkey openapi`, `keygen` and `version`: what the binary can say without a database. */

import { SqliteStorage } from "../../db/sqlite.ts";
import { generateSecret, ROOT_KEY_PREFIX } from "../../domain/keys/secret.ts";
import { systemClock } from "../../lib/clock.ts";
import { createLogger } from "../../lib/logger.ts";
import { createApp } from "../app.ts";
import { DEFAULT_CONFIG, defaultPublicUrl, runtimeOf } from "../config.ts";
import { createDeps } from "../deps.ts";
import { VERSION } from "../server.ts";
import { type Command, EXIT_OK } from "./command.ts";

export const openapiCommand: Command = {
  name: "openapi",
  usage: ["openapi"],
  summary: "print the OpenAPI document of the HTTP API (what /openapi.json serves)",
  settings: [],
  run: async (_args, context) => {
    const storage = SqliteStorage.open(":memory:");
    await storage.migrate(systemClock.nowMilliseconds());
    const deps = await createDeps({
      storage,
      clock: systemClock,
      logger: createLogger("silent"),
      ...runtimeOf(DEFAULT_CONFIG, defaultPublicUrl(DEFAULT_CONFIG.host, DEFAULT_CONFIG.port), VERSION),
    });
    deps.status.ready = true;
    const app = createApp(deps);
    const response = await app.handle(new Request("http://localhost/openapi.json"));
    context.stdout(`${JSON.stringify(await response.json(), null, 2)}\n`);
    return EXIT_OK;
  },
};

export const keygenCommand: Command = {
  name: "keygen",
  usage: ["keygen"],
  summary: "print a new root-key secret, for LATCHKEY_ROOT_KEY",
  settings: [],
  run: async (_args, context) => {
    context.stdout(`${generateSecret(ROOT_KEY_PREFIX)}\n`);
    return EXIT_OK;
  },
};

export const versionCommand: Command = {
  name: "version",
  usage: ["version"],
  summary: "print the version",
  settings: [],
  run: async (_args, context) => {
    context.stdout(`${VERSION}\n`);
    return EXIT_OK;
  },
};
