/**
 * Structured logs, one JSON object per line. Log lines carry ids, codes, routes and timings — never secrets, tokens,
 * headers or bodies; callers pass only fields that are safe to keep.
 */
import { writeStderr, writeStdout } from "./output.ts";

export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  /** Whether debug lines are written, so hot paths can skip building them. */
  readonly debugEnabled: boolean;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export type LogSink = (line: string, level: Exclude<LogLevel, "silent">) => void;

const defaultSink: LogSink = (line, level) => {
  if (level === "error" || level === "warn") writeStderr(`${line}\n`);
  else writeStdout(`${line}\n`);
};

export function createLogger(level: LogLevel, sink: LogSink = defaultSink): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const write = (lineLevel: Exclude<LogLevel, "silent">, message: string, fields?: LogFields) => {
    if (LOG_LEVELS.indexOf(lineLevel) < threshold) return;
    sink(JSON.stringify({ time: new Date().toISOString(), level: lineLevel, msg: message, ...fields }), lineLevel);
  };
  return {
    debugEnabled: threshold <= LOG_LEVELS.indexOf("debug"),
    debug: (message, fields) => write("debug", message, fields),
    info: (message, fields) => write("info", message, fields),
    warn: (message, fields) => write("warn", message, fields),
    error: (message, fields) => write("error", message, fields),
  };
}
