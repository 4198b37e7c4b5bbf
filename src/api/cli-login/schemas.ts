/** Wire shapes of CLI login: the CLI's own contract (camelCase), approval (snake_case, like the rest), RFC 8628. */
import { z } from "zod";
import { MAX_SCOPE_LENGTH, MAX_SCOPES_PER_KEY } from "../../domain/keys/scopes.ts";
import { displayText, IsoDateTime } from "../../http/wire.ts";
import { Owner, ScopeList } from "../keys/schemas.ts";

export const CreateCliSessionBody = z.strictObject({
  deviceName: displayText(100).optional().describe("Shown to the user on the approval page, and names the key."),
  callbackUrl: z
    .string()
    .max(2048)
    .optional()
    .describe("Where the browser goes after approval: https, or http to loopback."),
  codeChallenge: z
    .string()
    .regex(/^[A-Za-z0-9_-]{43}$/, { message: "must be base64url(sha256(verifier)), 43 characters" })
    .optional()
    .describe("PKCE (S256): polling then needs the verifier in X-Code-Verifier."),
  codeChallengeMethod: z.literal("S256").optional(),
  scopes: ScopeList.optional().describe("Scopes the CLI asks for; the approver may grant these or fewer."),
});

export const CreatedCliSession = z
  .object({
    sessionId: z.string().describe("Keep it secret: it collects the key."),
    verificationUrl: z.string(),
    expiresAt: IsoDateTime,
    userCode: z.string().describe("XXXX-XXXX, for the user to compare with the page."),
    interval: z.number().int().describe("Seconds to wait between polls."),
  })
  .meta({ id: "CliLoginSession" });

export const CliSessionParams = z.object({ sessionId: z.string().max(64) });

export const CliPoll = z
  .discriminatedUnion("status", [
    z.object({ status: z.literal("pending"), deviceName: z.string().nullable() }),
    z.object({ status: z.literal("completed"), apiKey: z.string() }),
    z.object({ status: z.literal("expired") }),
  ])
  .meta({ id: "CliLoginPoll" });

export const CliSuccess = z.object({ success: z.literal(true) });

export const UserCodeParams = z.object({ userCode: z.string().max(16) });

export const ApproveBody = z.strictObject({
  user_id: Owner.optional().describe(
    "The end user the key is for (required with an API key; a browser approves for itself).",
  ),
  scopes: ScopeList.optional().describe("Scopes of the key; default: those the CLI asked for, else the project's."),
  expires_at: IsoDateTime.optional().describe("Default: the project's cli key lifetime (90 days)."),
});

export const ApprovedCliSession = z
  .object({
    object: z.literal("cli_session"),
    status: z.literal("approved"),
    key_id: z.string(),
    owner: z.string(),
    scopes: z.array(z.string()),
    expires_at: IsoDateTime,
    callback_url: z.string().nullable(),
  })
  .meta({ id: "CliLoginApproved" });

export const DeniedCliSession = z
  .object({ object: z.literal("cli_session"), status: z.literal("denied"), callback_url: z.string().nullable() })
  .meta({ id: "CliLoginDenied" });

export const CliSessionForApproval = z
  .object({
    object: z.literal("cli_session"),
    status: z.enum(["pending", "approved", "delivered", "denied", "expired"]),
    device_name: z.string().nullable(),
    user_code: z.string(),
    requester_ip: z.string().nullable(),
    requester_user_agent: z.string().nullable(),
    created_at: IsoDateTime,
    expires_at: IsoDateTime,
    scopes: z.array(z.string()).nullable(),
    project: z.object({ id: z.string(), name: z.string() }).describe("The project the CLI asks to sign in to."),
    callback_host: z
      .string()
      .nullable()
      .describe("Where the browser is sent once the user approves or denies (host and port); null: nowhere."),
  })
  .meta({ id: "CliLoginForApproval" });

export const DeviceCodeForm = z.object({
  client_id: z.string().min(1).max(64).describe("The project id."),
  scope: z
    .string()
    .max(MAX_SCOPES_PER_KEY * (MAX_SCOPE_LENGTH + 1))
    .optional()
    .describe("Space-separated scopes."),
});

export const DeviceCodeResponse = z
  .object({
    device_code: z.string(),
    user_code: z.string(),
    verification_uri: z.string(),
    verification_uri_complete: z.string(),
    expires_in: z.number().int(),
    interval: z.number().int(),
  })
  .meta({ id: "DeviceAuthorization" });

export const TokenForm = z.object({
  grant_type: z.string().max(200),
  device_code: z.string().max(64).optional(),
  client_id: z.string().max(64).optional(),
});

export const TokenResponse = z
  .object({
    access_token: z.string(),
    token_type: z.literal("Bearer"),
    scope: z.string(),
    expires_in: z.number().int().optional(),
  })
  .meta({ id: "DeviceAccessToken" });
