/**
 * Running a suite over both transports: in-process (app.handle) and over a real port. `forEachTransport` makes one
 * describe block per transport; `useWorld` gives each test of a block a fresh world (closed and leak-scanned after
 * it), through a handle that always points at the current test's world.
 */
import { afterEach, beforeEach, describe } from "bun:test";
import { createWorld, type Transport, type World, type WorldOptions } from "./world.ts";

const TRANSPORTS: readonly Transport[] = ["in-process", "http"];

export function forEachTransport(title: string, define: (transport: Transport) => void): void {
  for (const transport of TRANSPORTS) describe(`${title} (${transport})`, () => define(transport));
}

/** A fresh world for every test of the enclosing block; the handle reads through to the current one. */
export function useWorld(options: WorldOptions = {}): World {
  let current: World | undefined;
  beforeEach(async () => {
    current = await createWorld(options);
  });
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
  return new Proxy({} as World, {
    get(_, property) {
      if (current === undefined) throw new Error("the world exists only while a test runs");
      const value = Reflect.get(current, property);
      return typeof value === "function" ? value.bind(current) : value;
    },
  });
}
