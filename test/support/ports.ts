/** A TCP port on 127.0.0.1 that nothing listens on right now (for peers that need a port before they start). */
export async function freePort(): Promise<number> {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
}
