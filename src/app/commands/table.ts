/** Every subcommand of `latchkey`, in the order `latchkey --help` lists them. */
import { backupCommand, restoreCommand } from "./backup.ts";
import type { Command } from "./command.ts";
import { keygenCommand, openapiCommand, versionCommand } from "./info.ts";
import { masterKeyCommand, signingKeysCommand } from "./keys.ts";
import { migrateCommand, migrateToCommand, serveCommand } from "./serve.ts";

export const COMMANDS: readonly Command[] = [
  serveCommand,
  migrateCommand,
  migrateToCommand,
  backupCommand,
  restoreCommand,
  signingKeysCommand,
  masterKeyCommand,
  openapiCommand,
  keygenCommand,
  versionCommand,
];
