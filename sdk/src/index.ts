/**
 * @latchkey/sdk: a typed client for latchkey's API, offline session-token verification and the CLI login. The
 * framework middleware are subpaths: `@latchkey/sdk/express`, `/hono`, `/fastify`, `/fetch`; storing a CLI's key on
 * disk is `@latchkey/sdk/node`.
 */
export { type CliLoginOptions, cliLogin } from "./cli-login.ts";
export {
  type ApiKey,
  type AuditEvent,
  type CreatedKey,
  Latchkey,
  type LatchkeyOptions,
  PageRequest,
  type Project,
  type QueryOf,
  type RequestBody,
  type RequestOptions,
  type ResponseBody,
  type SessionToken,
  type Tenant,
  type Verification,
} from "./client.ts";
export { type ErrorBody, type ErrorDetail, LatchkeyError } from "./errors.ts";
export type { components, operations, paths } from "./generated/api.ts";
export type { LatchkeyIdentity, MiddlewareOptions } from "./middleware.ts";
export { createTokenVerifier, type TokenClaims, type TokenVerifier, type TokenVerifierOptions } from "./tokens.ts";
export type { Fetch, TransportOptions } from "./transport.ts";
