/** Redis did not answer at start: a start-up failure `latchkey serve` reports in one line (exit 1). */
export class RedisUnreachableError extends Error {
  override name = "RedisUnreachableError";
}
