/**
 * One LISTEN connection that keeps itself up: when the connection ends (the server restarted, terminated it, or the
 * network dropped it), it reconnects with a growing pause and LISTENs again, telling its owner each time it is
 * listening again (notifications sent while it was away are lost, so the owner drops its caches).
 */
import pg from "pg";

const FIRST_RETRY_MILLISECONDS = 50;
const MAX_RETRY_MILLISECONDS = 2_000;

export class PgListener {
  private client: pg.Client | null = null;
  private stopped = false;
  private retryMilliseconds = FIRST_RETRY_MILLISECONDS;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly connection: pg.ClientConfig,
    private readonly channel: string,
    private readonly onMessage: (payload: string) => void,
    private readonly onListening: () => void,
  ) {}

  /** The first connection: failing here fails the start (a node that cannot listen must not claim to). */
  async start(): Promise<void> {
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    // No query deadline here: the connection is meant to sit idle, waiting for notifications.
    const client = new pg.Client({ ...this.connection, query_timeout: undefined });
    client.on("notification", (message) => {
      if (message.channel === this.channel && message.payload !== undefined) this.onMessage(message.payload);
    });
    client.on("error", () => this.lost(client));
    client.on("end", () => this.lost(client));
    await client.connect();
    try {
      await client.query(`LISTEN "${this.channel.replaceAll('"', '""')}"`);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    if (this.stopped) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.retryMilliseconds = FIRST_RETRY_MILLISECONDS;
    this.onListening();
  }

  private lost(client: pg.Client): void {
    if (this.client !== client || this.stopped) return;
    this.client = null;
    client.end().catch(() => {});
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect().catch(() => this.scheduleRetry());
    }, this.retryMilliseconds);
    this.retryMilliseconds = Math.min(this.retryMilliseconds * 2, MAX_RETRY_MILLISECONDS);
  }
}
