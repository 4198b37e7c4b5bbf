/**
 * What a start costs: the compiled binary timed from spawn to exit (`version`, `keygen`) and from spawn to the first
 * 200 of GET /healthz (`serve` on an existing SQLite file), beside a compiled bare `Bun.serve` built the same way, in
 * one run.
 *
 *   bun scripts/bench-startup.ts [--binary dist/latchkey] [--before /tmp/startup-before/latchkey] [--runs 10]
 *
 * Without --binary this checkout is built into a temporary folder. --before adds a second binary (an earlier build)
 * whose rows alternate with the first one's. Every run starts in an empty temporary folder with nothing beside the
 * binary and no LATCHKEY_* variables; the rows alternate run by run, so a noisy machine moves them together. Each row
 * prints min/median/max in milliseconds and its median as a multiple of the bare program's (exit for a command,
 * first answer for serve). The poll is a fetch every millisecond, so a serve row may read up to ~1 ms late; the bare
 * row reads the same way.
 */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { freePort } from "../test/support/ports.ts";
import { buildBinary, makeTempDir } from "../test/support/run-binary.ts";
import { positiveNumberFlag } from "./lib/args.ts";
import { COMPILE_FLAGS } from "./lib/compile.ts";

const { values: options } = parseArgs({
  options: {
    binary: { type: "string" },
    before: { type: "string" },
    runs: { type: "string", default: "10" },
  },
});
const runs = positiveNumberFlag("runs", options.runs);

const workspace = makeTempDir("bench-startup");
const ENV = { PATH: process.env.PATH ?? "", HOME: workspace.path };

/** The bare program: exits at once with `exit`, else answers every request 200 on the port it is given. */
const BARE_SOURCE = `if (process.argv[2] === "exit") process.exit(0);
Bun.serve({ port: Number(process.argv[2]), hostname: "127.0.0.1", fetch: () => new Response("ok") });
`;

function compileBare(): string {
  const source = join(workspace.path, "bare.ts");
  const outfile = join(workspace.path, "bare");
  writeFileSync(source, BARE_SOURCE);
  const build = Bun.spawnSync([process.execPath, "build", ...COMPILE_FLAGS, source, "--outfile", outfile], {
    cwd: workspace.path,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (build.exitCode !== 0) throw new Error(`bare build failed: ${build.stderr.toString()}`);
  return outfile;
}

async function timeToExit(command: string[]): Promise<number> {
  const started = performance.now();
  const child = Bun.spawn(command, { cwd: workspace.path, env: ENV, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [exitCode, stdout] = await Promise.all([child.exited, new Response(child.stdout).text()]);
  const elapsed = performance.now() - started;
  if (exitCode !== 0 || (command.at(-1) !== "exit" && stdout.trim() === "")) {
    throw new Error(`${command.join(" ")} exited ${exitCode}: ${await new Response(child.stderr).text()}`);
  }
  return elapsed;
}

/** Spawn to the first 200 of GET /healthz, then a gentle stop (not timed). */
async function timeToFirstAnswer(command: (port: number) => string[]): Promise<number> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/healthz`;
  const started = performance.now();
  const child = Bun.spawn(command(port), {
    cwd: workspace.path,
    env: ENV,
    stdin: "ignore",
    stdout: "ignore",
    stderr: "ignore",
  });
  const deadline = started + 15_000;
  try {
    for (;;) {
      const status = await fetch(url).then(
        (response) => response.status,
        () => 0,
      );
      if (status === 200) return performance.now() - started;
      if (child.exitCode !== null) throw new Error(`${command(port).join(" ")} exited ${child.exitCode}`);
      if (performance.now() > deadline) throw new Error(`${command(port).join(" ")}: no 200 within 15 s`);
      await Bun.sleep(1);
    }
  } finally {
    child.kill("SIGTERM");
    await child.exited;
  }
}

interface Row {
  name: string;
  /** Which bare row its ratio is taken against. */
  bare: "exit" | "serve";
  measure(): Promise<number>;
}

function latchkeyRows(label: string, binary: string): Row[] {
  const database = join(workspace.path, `${label}.db`);
  const serve = (port: number) => [binary, "serve", "--db", database, "--port", String(port), "--host", "127.0.0.1"];
  return [
    { name: `${label} version`, bare: "exit", measure: () => timeToExit([binary, "version"]) },
    { name: `${label} keygen`, bare: "exit", measure: () => timeToExit([binary, "keygen"]) },
    { name: `${label} serve (existing SQLite)`, bare: "serve", measure: () => timeToFirstAnswer(serve) },
  ];
}

try {
  const binary = resolve(options.binary ?? buildBinary(join(workspace.path, "latchkey")));
  const bare = compileBare();
  const binaries: [string, string][] = [["latchkey", binary]];
  if (options.before !== undefined) binaries.unshift(["before", resolve(options.before)]);
  const rows: Row[] = [
    { name: "bare exit", bare: "exit", measure: () => timeToExit([bare, "exit"]) },
    {
      name: "bare Bun.serve",
      bare: "serve",
      measure: () => timeToFirstAnswer((port) => [bare, String(port)]),
    },
    ...binaries.flatMap(([label, path]) => latchkeyRows(label, path)),
  ];
  // The first start of each binary creates its database (and the warm-up run of every row is discarded).
  for (const row of rows) await row.measure();
  const samples = new Map<Row, number[]>(rows.map((row) => [row, []]));
  for (let run = 0; run < runs; run++) {
    for (const row of rows) samples.get(row)!.push(await row.measure());
  }

  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = sorted.length >> 1;
    return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  };
  const bareMedian = {
    exit: median(samples.get(rows[0]!)!),
    serve: median(samples.get(rows[1]!)!),
  };
  const width = Math.max(...rows.map((row) => row.name.length));
  console.log(`start-up, ${runs} runs each, ms (spawn to exit; serve: spawn to the first 200 of /healthz)`);
  console.log(`${"".padEnd(width)}     min  median     max  × bare`);
  for (const row of rows) {
    const values = samples.get(row)!;
    const middle = median(values);
    const cells = [Math.min(...values), middle, Math.max(...values)].map((value) => value.toFixed(1).padStart(7));
    console.log(
      `${row.name.padEnd(width)} ${cells.join(" ")}  ${(middle / bareMedian[row.bare]).toFixed(2).padStart(6)}`,
    );
  }
} finally {
  workspace.remove();
}
