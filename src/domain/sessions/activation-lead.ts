/**
 * How long a rotated signing key is published before it signs (see signing-keys.ts): long enough for verifiers
 * holding a cached JWKS to fetch it first. A file of its own so that `latchkey signing-keys --help` loads no keys.
 */
export const DEFAULT_ACTIVATION_LEAD_SECONDS = 60;
export const MAX_ACTIVATION_LEAD_SECONDS = 24 * 60 * 60;
