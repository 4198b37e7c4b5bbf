/**
 * How a program is compiled into one executable: the flags scripts/build.ts builds latchkey with, shared with the
 * start-up benchmark's bare program so the two are compared like for like.
 */
export const COMPILE_FLAGS = ["--compile", "--minify", "--bytecode", "--format=esm", "--target=bun"] as const;
