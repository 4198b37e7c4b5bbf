#!/usr/bin/env bun
/**
 * The command line, and the only file that reads the environment: it hands the environment to the command named
 * first (src/app/commands/). `latchkey --help` lists them; `latchkey <command> --help` prints one command's usage and
 * settings and exits 0. Exit codes: 0 success, 1 failure at run time, 2 bad usage or configuration.
 */
import { asksForHelp, type CommandContext, EXIT_OK, EXIT_USAGE } from "./app/commands/command.ts";
import { COMMANDS } from "./app/commands/table.ts";
import { VERSION } from "./app/version.ts";
import { writeStderr, writeStdout } from "./lib/output.ts";

/** The help texts read the configuration table: loaded only when asked for. */
const help = () => import("./app/commands/help.ts");

async function main(argv: string[], context: CommandContext): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    context.stdout((await help()).overviewHelp(COMMANDS));
    return EXIT_OK;
  }
  const command = COMMANDS.find((candidate) => candidate.name === (name === "--version" ? "version" : name));
  if (command === undefined) {
    // Not echoed: a mistyped command line may hold a pasted secret.
    context.stderr(`latchkey: unknown command (see latchkey --help)\n\n${(await help()).overviewHelp(COMMANDS)}`);
    return EXIT_USAGE;
  }
  if (name === "--version") return command.run([], context);
  if (asksForHelp(args)) {
    context.stdout((await help()).commandHelp(command, VERSION));
    return EXIT_OK;
  }
  return command.run(args, context);
}

process.exitCode = await main(process.argv.slice(2), {
  env: Bun.env,
  stdout: writeStdout,
  stderr: writeStderr,
  readStdin: () => Bun.stdin.text(),
});
