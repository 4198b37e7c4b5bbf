/**
 * What every subcommand of `latchkey` is: a name, its usage lines, what it does, which settings it reads, and a run
 * function of its arguments and the environment main.ts hands it (no command reads the environment itself). Its
 * help is printed from those fields, so `latchkey <command> --help` and `latchkey --help` never disagree.
 *
 * Exit codes: 0 success, 1 a failure at run time, 2 bad usage or configuration (a flag, a setting, a master key that
 * is missing or wrong).
 */
import { parseArgs } from "node:util";
import { CONFIG_SETTINGS, type ConfigSetting, loadConfig, type ServerConfig } from "../config.ts";

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

function describeSetting(setting: ConfigSetting): string {
  const names = `${(setting.flag ?? "(env only)").padEnd(20)} ${setting.env.padEnd(26)}`;
  return `  ${names} ${setting.defaultText}\n      ${setting.description}`;
}

export function settingsOf(command: Command): readonly ConfigSetting[] {
  const wanted = command.settings;
  return wanted === "all" ? CONFIG_SETTINGS : CONFIG_SETTINGS.filter((setting) => wanted.includes(setting.key));
}

/** The settings table of --help: flag, variable, default, and what each does. */
export function settingsHelp(settings: readonly ConfigSetting[]): string[] {
  return settings.length === 0
    ? []
    : ["", "Settings (flag, environment variable, default):", ...settings.map(describeSetting)];
}

export function commandHelp(command: Command, version: string): string {
  return [
    `latchkey ${version}: ${command.summary}`,
    "",
    "Usage:",
    ...command.usage.map((form) => `  latchkey ${form}`),
    ...(command.details ?? []).flatMap((paragraph) => ["", paragraph]),
    ...settingsHelp(settingsOf(command)),
    "",
  ].join("\n");
}

/** An expected failure answered as one line and its exit code; anything else propagates (and names itself). */
export function answerFailure(
  error: unknown,
  context: CommandContext,
  expected: readonly (readonly [new (...args: never[]) => Error, number])[],
): number {
  for (const [kind, exitCode] of expected) {
    if (error instanceof kind) {
      context.stderr(`latchkey: ${error.message}\n`);
      return exitCode;
    }
  }
  throw error;
}

/** Asking for help anywhere on the line: `latchkey serve --help`, `latchkey signing-keys rotate -h`. */
export function asksForHelp(args: readonly string[]): boolean {
  return args.some((arg) => arg === "--help" || arg === "-h");
}

/** Runs `work` with the configuration of `flags` and the environment, or names every bad setting and exits 2. */
export async function withConfig(
  flags: readonly string[],
  context: CommandContext,
  work: (config: ServerConfig) => Promise<number>,
): Promise<number> {
  const result = loadConfig(flags, context.env);
  if (!result.ok) {
    context.stderr(`latchkey: invalid configuration\n${result.problems.map((problem) => `  ${problem}\n`).join("")}`);
    return EXIT_USAGE;
  }
  for (const warning of result.warnings) context.stderr(`latchkey: ${warning}\n`);
  return work(result.config);
}

/**
 * A command's own options taken out of its arguments (node:util's parser, leniently), and the rest: the settings
 * flags that withConfig reads.
 */
export function takeOptions<Name extends string>(
  args: readonly string[],
  options: Record<Name, { type: "string" | "boolean" }>,
): { values: Partial<Record<Name, string | boolean>>; rest: string[] } {
  const { values, tokens } = parseArgs({
    args: [...args],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const dropped = new Set<number>();
  for (const token of tokens ?? []) {
    if (token.kind !== "option" || !(token.name in options)) continue;
    dropped.add(token.index);
    if (options[token.name as Name].type === "string" && token.inlineValue === false) dropped.add(token.index + 1);
  }
  const own = Object.fromEntries(Object.entries(values).filter(([name]) => name in options));
  return {
    values: own as Partial<Record<Name, string | boolean>>,
    rest: args.filter((_, index) => !dropped.has(index)),
  };
}
