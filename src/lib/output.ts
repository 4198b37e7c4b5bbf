/**
 * Standard output and standard error, written synchronously with fs.writeSync: each text whole and in order, and
 * nothing left in a buffer when the process exits. `process.stdout` and `process.stderr` are not used because the
 * first touch of either builds a node:stream Writable over the descriptor, ~15 ms of a start that is ~30 ms in all
 * for `latchkey version`.
 *
 * A reader that went away (`latchkey openapi | head`) is not a failure worth a stack trace: a closed standard output
 * ends the process quietly with the exit code it had. A descriptor the parent left non-blocking is waited on.
 */
import { writeSync } from "node:fs";

const STDOUT = 1;
const STDERR = 2;

function writeAll(descriptor: number, text: string): void {
  let bytes = Buffer.from(text);
  while (bytes.length > 0) {
    try {
      bytes = bytes.subarray(writeSync(descriptor, bytes));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error;
      Bun.sleepSync(1);
    }
  }
}

export function writeStdout(text: string): void {
  try {
    writeAll(STDOUT, text);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPIPE") throw error;
    process.exit(process.exitCode ?? 0);
  }
}

export function writeStderr(text: string): void {
  writeAll(STDERR, text);
}
