/** `latchkey openapi`: the document /openapi.json serves, from an app on an empty in-memory database. */
import { SqliteStorage } from "../../db/sqlite.ts";
import { systemClock } from "../../lib/clock.ts";
import { createLogger } from "../../lib/logger.ts";
import { createApp } from "../app.ts";
import { DEFAULT_CONFIG, defaultPublicUrl, runtimeOf } from "../config.ts";
import { createDeps } from "../deps.ts";
import { VERSION } from "../version.ts";
import { type CommandContext, EXIT_OK } from "./command.ts";

export async function printOpenapi(context: CommandContext): Promise<number> {
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
}
