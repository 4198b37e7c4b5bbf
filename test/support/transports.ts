/**
 * Runs a suite once per transport (in-process through app.handle, and over a real port), each test in a fresh world
 * that is closed (and leak-scanned) after it.
 */
import { afterEach, beforeEach, describe } from "bun:test";
import { createWorld, type Transport, type World, type WorldOptions } from "./world.ts";

export const TRANSPORTS: readonly Transport[] = ["in-process", "http"];

export interface TransportContext {
  world: World;
  transport: Transport;
}

export function forEachTransport(
  title: string,
  define: (context: TransportContext) => void,
  options: Omit<WorldOptions, "transport"> = {},
): void {
  for (const transport of TRANSPORTS) {
    describe(`${title} (${transport})`, () => {
      const context = { transport } as TransportContext;
      beforeEach(async () => {
        context.world = await createWorld({ ...options, transport });
      });
      afterEach(() => context.world.close());
      define(context);
    });
  }
}
