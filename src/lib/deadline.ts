/**
 * Waiting with a bound: a call to another server (the database, Redis) that has not answered within its deadline is
 * treated as failed, so a request never waits on a server that went silent (a partition sends no reset).
 */
export class DeadlineExceeded extends Error {
  override name = "DeadlineExceeded";
  /** The socket's code for a timed-out peer, so callers that classify errors by code see it as one. */
  readonly code = "ETIMEDOUT";

  constructor(what: string, milliseconds: number) {
    super(`${what} did not answer within ${milliseconds} ms`);
  }
}

export async function withDeadline<Value>(work: Promise<Value>, milliseconds: number, what: string): Promise<Value> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(what, milliseconds)), milliseconds);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
