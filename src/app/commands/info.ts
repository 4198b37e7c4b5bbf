/** `latchkey keygen` and `version`: what the binary can say without a database or a configuration. */
import { generateSecret, ROOT_KEY_PREFIX } from "../../domain/keys/secret.ts";
import { VERSION } from "../version.ts";
import { type CommandContext, EXIT_OK } from "./command.ts";

export async function printRootKeySecret(context: CommandContext): Promise<number> {
  context.stdout(`${generateSecret(ROOT_KEY_PREFIX)}\n`);
  return EXIT_OK;
}

export async function printVersion(context: CommandContext): Promise<number> {
  context.stdout(`${VERSION}\n`);
  return EXIT_OK;
}
