/**
 * What every subcommand of `latchkey` is: a name, its usage lines, what it does, which settings it reads, and a run
 * function of its arguments and the environment main.ts hands it (no command reads the environment itself). Its
 * help is printed from those fields (help.ts), so `latchkey <command> --help` and `latchkey --help` never disagree.
 *
 * Everything here is data: the table (table.ts) loads a command's code only when that command runs, so a start
 * costs what the command needs.
 *
 * Exit codes: 0 success, 1 a failure at run time, 2 bad usage or configuration (a flag, a setting, a master key that
 * is missing or wrong).
 */
import type { ServerConfig } from "../config.ts";

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export interface CommandContext {
  /** The environment, as main.ts read it. */
  env: Record<string, string | undefined>;
  stdout(text: string): void;
  stderr(text: string): void;
  /** All of standard input, for a secret that must not appear on a command line. */
  readStdin(): Promise<string>;
}

export interface Command {
  name: string;
  /** Each form of the command, after `latchkey `. */
  usage: string[];
  summary: string;
  /** Paragraphs after the usage: the command's own flags and variables, and what to know before running it. */
  details?: string[];
  /** The settings of the configuration table the command reads (all of them for serve). */
  settings: "all" | readonly (keyof ServerConfig)[];
  run(args: string[], context: CommandContext): Promise<number>;
}

/** Asking for help anywhere on the line: `latchkey serve --help`, `latchkey signing-keys rotate -h`. */
export function asksForHelp(args: readonly string[]): boolean {
  return args.some((arg) => arg === "--help" || arg === "-h");
}

/** What backup and restore say about PostgreSQL, in their help and when given a database URL. */
export const POSTGRES_TOOLS =
  "on PostgreSQL use its own tools: pg_dump --format=custom --file FILE, pg_restore (docs/operations.md)";
