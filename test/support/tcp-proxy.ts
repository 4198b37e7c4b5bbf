/**
 * A TCP proxy that can cut the line without closing it, as a network partition does: bytes stop flowing both ways
 * while every socket stays open, so nothing learns of the loss from a reset. `heal` ends the partition the way a
 * real one ends for connections that lived through it (they are reset) and lets new connections through.
 */
import net from "node:net";

export class TcpProxy {
  private partitioned = false;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = net.createServer((client) => proxy!.accept(client, targetHost, targetPort));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    proxy = new TcpProxy(server, (server.address() as net.AddressInfo).port);
    return proxy;
  }

  /** Stops every byte, both ways, on every connection, and refuses to carry new ones (they hang, unanswered). */
  partition(): void {
    this.partitioned = true;
  }

  heal(): void {
    this.partitioned = false;
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.heal();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket, targetHost: string, targetPort: number): void {
    const upstream = net.connect(targetPort, targetHost);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.pairs.add(pair);
    const forget = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("data", (chunk) => {
      if (!this.partitioned) upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (!this.partitioned) client.write(chunk);
    });
    for (const socket of pair) {
      socket.on("error", forget);
      socket.on("close", forget);
    }
  }
}
