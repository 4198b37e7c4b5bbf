/**
 * Limits the formatter cannot enforce, checked by `bun run lint`: no source file of src/ over 400 lines (a file that
 * long does more than one job), and no line of code over 120 characters (the formatter wraps code, never a long
 * string or comment).
 */
import { Glob } from "bun";

const MAX_FILE_LINES = 400;
const MAX_LINE_LENGTH = 120;

const problems: string[] = [];
for (const folder of ["src", "test", "scripts", "sdk/src", "sdk/test"]) {
  for await (const path of new Glob(`${folder}/**/*.ts`).scan({ dot: false })) {
    // Written by openapi-typescript from the server's document (sdk/scripts/generate.ts), never by hand.
    if (path.startsWith("sdk/src/generated/")) continue;
    const lines = (await Bun.file(path).text()).split("\n");
    if (folder === "src" && lines.length > MAX_FILE_LINES) {
      problems.push(`${path}: ${lines.length} lines (at most ${MAX_FILE_LINES} in src/)`);
    }
    lines.forEach((line, index) => {
      if (line.length > MAX_LINE_LENGTH)
        problems.push(`${path}:${index + 1}: ${line.length} characters (at most ${MAX_LINE_LENGTH})`);
    });
  }
}
for (const problem of problems) console.error(problem);
if (problems.length > 0) {
  console.error(`${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`sizes: every src/ file within ${MAX_FILE_LINES} lines, every line within ${MAX_LINE_LENGTH} characters`);
