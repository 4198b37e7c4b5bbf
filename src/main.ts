#!/usr/bin/env bun
/**
 * The command line, and the only file that reads the environment: it hands the environment to the command named
 * first (src/app/commands/). `latchkey --help` lists them; `latchkey <command> --help` prints one command's usage and
 * settings and exits 0. Exit codes: 0 success, 1 failure at run time, 2 bad usage or configuration.
 */
import {
  asksForHelp,
  type Command,
  type CommandContext,
  commandHelp,
  EXIT_OK,
  EXIT_USAGE,
  settingsHelp,
} from "./app/commands/command.ts";
import { versionCommand } from "./app/commands/info.ts";
import { COMMANDS } from "./app/commands/table.ts";
import { CONFIG_SETTINGS } from "./app/config.ts";
import { VERSION } from "./app/server.ts";

const listed = (command: Command) =>
  `${command.usage.map((form) => `  latchkey ${form}`).join("\n")}\n      ${command.summary}`;

const HELP = `latchkey ${VERSION}: self-hosted auth for APIs (keys, session tokens, CLI login, verification)

Usage:
${COMMANDS.map(listed).join("\n")}
  latchkey --help
      this text; latchkey <command> --help: that command's flags and settings

Operating it in production (backups, upgrades, the master key, alerts): docs/operations.md
${settingsHelp(CONFIG_SETTINGS).join("\n")}
`;

async function main(argv: string[], context: CommandContext): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    context.stdout(HELP);
    return EXIT_OK;
  }
  if (name === "--version") return versionCommand.run([], context);
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (command === undefined) {
    // Not echoed: a mistyped command line may hold a pasted secret.
    context.stderr(`latchkey: unknown command (see latchkey --help)\n\n${HELP}`);
    return EXIT_USAGE;
  }
  if (asksForHelp(args)) {
    context.stdout(commandHelp(command, VERSION));
    return EXIT_OK;
  }
  return command.run(args, context);
}

// `latchkey openapi | head`: a reader that stops early is not a failure worth a stack trace.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
  process.exit(process.exitCode ?? 0);
});

process.exitCode = await main(process.argv.slice(2), {
  env: Bun.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  readStdin: () => Bun.stdin.text(),
});
