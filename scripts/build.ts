/**
 * Builds dist/latchkey: one executable with the runtime, the code (minified, as bytecode for a fast cold start), the
 * migrations and the docs reader inside it. Nothing needs to sit beside it.
 *
 *   bun run build [--outfile dist/latchkey]
 */
import { parseArgs } from "node:util";
import { COMPILE_FLAGS } from "./lib/compile.ts";

const { values } = parseArgs({ options: { outfile: { type: "string", default: "dist/latchkey" } } });
const root = new URL("..", import.meta.url).pathname;

const started = performance.now();
const build = Bun.spawnSync(
  [
    process.execPath,
    "build",
    ...COMPILE_FLAGS,
    // Each command's modules (and the PostgreSQL driver, the docs) in chunks of their own inside the binary, so a
    // start reads and evaluates only what it imports.
    "--splitting",
    "src/main.ts",
    "--outfile",
    values.outfile!,
  ],
  { cwd: root, stdout: "inherit", stderr: "inherit" },
);
if (build.exitCode !== 0) {
  console.error(`build failed (exit ${build.exitCode})`);
  process.exit(1);
}
console.log(`built ${values.outfile} in ${Math.round(performance.now() - started)} ms`);
