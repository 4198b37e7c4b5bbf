/**
 * Drives the real compiled binary, for tests and benchmarks: build it, start it on a free port against a database
 * file, wait until it is listening, call it, and stop it gently or with kill -9.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = new URL("../..", import.meta.url).pathname;

export function makeTempDir(label: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `latchkey-${label}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Builds the latchkey in `sourceRoot` (this checkout by default; a test builds an earlier release too). */
export function buildBinary(outfile: string, sourceRoot: string = ROOT): string {
  const build = Bun.spawnSync([process.execPath, "scripts/build.ts", "--outfile", outfile], {
    cwd: sourceRoot,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`);
  return outfile;
}

export interface RunningBinary {
  url: string;
  process: Bun.Subprocess<"ignore", "pipe", "pipe">;
  stdout(): string;
  stderr(): string;
  stop(): Promise<number>;
  kill9(): Promise<void>;
}

export interface StartOptions {
  args?: string[];
  /** A command the binary runs under, e.g. taskset to pin it to one core. */
  wrapper?: string[];
  env?: Record<string, string>;
  readyTimeoutMilliseconds?: number;
}

export async function startBinary(binary: string, options: StartOptions = {}): Promise<RunningBinary> {
  const child = Bun.spawn([...(options.wrapper ?? []), binary, "serve", "--port", "0", ...(options.args ?? [])], {
    env: { PATH: process.env.PATH ?? "", ...options.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let stdoutText = "";
  let stderrText = "";
  const pump = async (stream: ReadableStream<Uint8Array>, append: (text: string) => void) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) append(decoder.decode(chunk, { stream: true }));
  };
  const pumped = Promise.all([
    pump(child.stdout, (text) => (stdoutText += text)),
    pump(child.stderr, (text) => (stderrText += text)),
  ]);
  const deadline = Date.now() + (options.readyTimeoutMilliseconds ?? 15_000);
  let url: string | null = null;
  while (url === null) {
    const match = /"msg":"listening","url":"([^"]+)"/.exec(stdoutText);
    if (match) url = match[1]!;
    else if (child.exitCode !== null) {
      await pumped;
      throw new Error(`latchkey exited ${child.exitCode} before listening:\n${stderrText}\n${stdoutText}`);
    } else if (Date.now() > deadline) {
      child.kill(9);
      throw new Error(`latchkey did not start in time:\n${stderrText}\n${stdoutText}`);
    } else await Bun.sleep(10);
  }
  return {
    url,
    process: child,
    stdout: () => stdoutText,
    stderr: () => stderrText,
    stop: async () => {
      child.kill("SIGTERM");
      const code = await child.exited;
      await pumped;
      return code;
    },
    kill9: async () => {
      child.kill(9);
      await child.exited;
      await pumped;
    },
  };
}

/** Runs a one-shot command of the binary (openapi, version, migrate, a failing serve) to completion. */
export function runBinary(binary: string, args: string[], env: Record<string, string> = {}) {
  const result = Bun.spawnSync([binary, ...args], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { exitCode: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

export async function callJson(
  url: string,
  method: string,
  path: string,
  options: { key?: string; body?: unknown } = {},
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(options.key ? { authorization: `Bearer ${options.key}` } : {}),
      ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  return { status: response.status, body: await response.json() };
}
