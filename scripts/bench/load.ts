/**
 * One load generator for every scenario and the baseline: wrk when installed (pinned to the second core, one
 * thread), otherwise autocannon under node. Figures come back in one shape.
 *
 * Given the server's process id, a run also reports the CPU time that process spent per request (user + system, from
 * /proc on Linux). On a shared machine that moves far less than requests per second: a neighbour that takes the core
 * for a while lowers the throughput of the run it lands in, but not much the work each request costs.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface LoadSpec {
  url: string;
  method?: "GET" | "POST";
  headers?: Record<string, string>;
  body?: string;
  /** A file of session tokens, one per line, sent as X-Session-Token in turn. */
  tokensFile?: string;
  connections: number;
  seconds: number;
  /** Load-generator threads (wrk); 1 unless the server has more cores than one thread can keep busy. */
  threads?: number;
  /** The cores the load generator runs on (taskset list); core 1 unless given. */
  cores?: string;
  /** The server's process, whose CPU time per request is reported. */
  serverPid?: number;
}

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  /** The server's CPU time per request, in microseconds; null without a process id or /proc. */
  cpuMicrosecondsPerRequest: number | null;
}

/** A figure as the bench tables print it: grouped thousands, a fixed number of decimals. */
export function format(value: number, digits = 2): string {
  return value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export const WRK = Bun.which("wrk");
const TASKSET = Bun.which("taskset");
/** wrk writes latencies with a unit; these bring them to milliseconds. */
const MILLISECONDS_PER_UNIT = { us: 0.001, ms: 1, s: 1000 };
export const LOAD_GENERATOR = WRK ? "wrk" : "autocannon";

/** Pins a command to one core when taskset exists, so server and load generator do not share a core. */
export function onCore(core: number | string, command: string[]): string[] {
  return TASKSET ? [TASKSET, "-c", String(core), ...command] : command;
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const cpuBefore = cpuSecondsOf(spec.serverPid);
  const result = await (WRK ? runWrk(spec) : runAutocannon(spec));
  const cpuAfter = cpuSecondsOf(spec.serverPid);
  const cpuMicrosecondsPerRequest =
    cpuBefore === null || cpuAfter === null || result.requests === 0
      ? null
      : ((cpuAfter - cpuBefore) * 1_000_000) / result.requests;
  return { ...result, cpuMicrosecondsPerRequest };
}

/** Clock ticks per second, the unit of /proc/<pid>/stat's CPU times. */
let ticksPerSecond: number | undefined;

/** User + system CPU seconds a process has used so far; null where /proc does not tell. */
function cpuSecondsOf(pid: number | undefined): number | null {
  if (pid === undefined || !existsSync(`/proc/${pid}/stat`)) return null;
  ticksPerSecond ??= Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;
  // The command name (field 2) may hold spaces: count fields from the ")" that closes it.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

async function runWrk(spec: LoadSpec): Promise<Omit<LoadResult, "cpuMicrosecondsPerRequest">> {
  const folder = mkdtempSync(join(tmpdir(), "latchkey-wrk-"));
  const script = join(folder, "scenario.lua");
  const headers = Object.entries(spec.headers ?? {})
    .map(([name, value]) => `wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`)
    .join("\n");
  writeFileSync(
    script,
    `wrk.method = ${JSON.stringify(spec.method ?? "GET")}
${spec.body === undefined ? "" : `wrk.body = ${JSON.stringify(spec.body)}`}
${headers}
${
  spec.tokensFile
    ? `local tokens = {}
for line in io.lines(${JSON.stringify(spec.tokensFile)}) do tokens[#tokens + 1] = line end
local next = 0
request = function()
  next = next + 1
  wrk.headers["X-Session-Token"] = tokens[(next % #tokens) + 1]
  return wrk.format()
end`
    : ""
}
`,
  );
  const child = Bun.spawn(
    onCore(spec.cores ?? 1, [
      WRK!,
      `-t${spec.threads ?? 1}`,
      `-c${spec.connections}`,
      `-d${spec.seconds}s`,
      "--latency",
      "-s",
      script,
      spec.url,
    ]),
    { stdout: "pipe", stderr: "pipe" },
  );
  const output = await new Response(child.stdout).text();
  await child.exited;
  const number = (pattern: RegExp) => {
    const match = pattern.exec(output);
    if (!match) throw new Error(`wrk output not understood:\n${output}`);
    return match;
  };
  const latency = (percent: string) => {
    const [, value, unit] = number(new RegExp(`^\\s*${percent}%\\s+([\\d.]+)(us|ms|s)\\s*$`, "m"));
    return Number(value) * MILLISECONDS_PER_UNIT[unit as keyof typeof MILLISECONDS_PER_UNIT];
  };
  return {
    requestsPerSecond: Number(number(/Requests\/sec:\s+([\d.]+)/)[1]),
    p50Ms: latency("50"),
    p99Ms: latency("99"),
    requests: Number(number(/(\d+) requests in/)[1]),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0),
  };
}

async function runAutocannon(spec: LoadSpec): Promise<Omit<LoadResult, "cpuMicrosecondsPerRequest">> {
  const runner = join(import.meta.dir, "autocannon-runner.mjs");
  const node = Bun.which("node");
  if (!node) throw new Error("neither wrk nor node is installed: no load generator");
  const child = Bun.spawn(onCore(1, [node, runner, JSON.stringify(spec)]), {
    stdout: "pipe",
    stderr: "inherit",
    cwd: join(import.meta.dir, "../.."),
  });
  const output = await new Response(child.stdout).text();
  await child.exited;
  return JSON.parse(output.trim().split("\n").at(-1)!);
}
