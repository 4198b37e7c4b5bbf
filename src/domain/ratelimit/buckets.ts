/**
 * The names of latchkey's buckets, in one place: each is a kind (also the policy name its answers' RateLimit and
 * RateLimit-Policy fields carry) and the party it counts for. A bucket store knows only the whole name.
 */
export const BUCKET_KINDS = {
  /** A key's requests (a session token spends its parent key's). */
  key: "key",
  /** Failed authentications from one client address. */
  authFailures: "auth-failures",
  /** CLI logins started from one client address. */
  cliStarts: "cli-starts",
} as const;

export type BucketKind = (typeof BUCKET_KINDS)[keyof typeof BUCKET_KINDS];

export function bucketName(kind: BucketKind, party: string): string {
  return `${kind}:${party}`;
}
