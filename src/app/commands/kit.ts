/**
 * What the commands' run functions share: the settings flags and the environment read into a configuration, a
 * command's own options taken out of its arguments, and an expected failure answered as one line.
 */
import { parseArgs } from "node:util";
import { loadConfig, type ServerConfig } from "../config.ts";
import { type CommandContext, EXIT_USAGE } from "./command.ts";

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
