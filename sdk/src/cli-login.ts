/**
 * `cliLogin`: the browser-approved CLI login, end to end, for the author of a command-line tool. It starts a login
 * with PKCE, hands the verification URL and code to `onCode` (print them, open a browser), polls at the pace latchkey
 * sets (slowing down when told), lets `save` store the key, and only then acknowledges, so latchkey wipes its copy.
 */
import { LatchkeyError } from "./errors.ts";
import { type Fetch, sleep, Transport } from "./transport.ts";

export interface CliLoginOptions {
  baseUrl: string;
  /** Shown to the approving user: the machine's name, usually. */
  deviceName: string;
  /** The project to log in to (the default project otherwise). */
  projectId?: string;
  /** Scopes to ask for (the project's CLI defaults otherwise). */
  scopes?: string[];
  /** Called once with what the user must see: open `verificationUrl` and check the code reads `userCode`. */
  onCode: (code: { verificationUrl: string; userCode: string; expiresAt: string }) => void | Promise<void>;
  /** Stores the key before latchkey is told it was received (see `saveKeyFile` in `@latchkey/sdk/node`). */
  save?: (apiKey: string) => void | Promise<void>;
  signal?: AbortSignal;
  fetch?: Fetch;
}

interface Started {
  sessionId: string;
  verificationUrl: string;
  userCode: string;
  interval: number;
  expiresAt: string;
}

type Poll = { status: "pending" } | { status: "completed"; apiKey: string } | { status: "expired" };

export async function cliLogin(options: CliLoginOptions): Promise<{ apiKey: string }> {
  const transport = new Transport({
    baseUrl: options.baseUrl,
    retries: 2,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = base64url(
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))),
  );
  const started = await transport.call<Started>("POST", "/v1/api/auth/sessions", {
    body: {
      deviceName: options.deviceName,
      codeChallenge: challenge,
      codeChallengeMethod: "S256",
      ...(options.scopes ? { scopes: options.scopes } : {}),
    },
    headers: { "x-project-id": options.projectId },
    signal: options.signal,
  });
  await options.onCode({
    verificationUrl: started.verificationUrl,
    userCode: started.userCode,
    expiresAt: started.expiresAt,
  });
  const path = `/v1/api/auth/sessions/${encodeURIComponent(started.sessionId)}`;
  const headers = { "x-code-verifier": verifier };
  let intervalMs = Math.max(1, started.interval) * 1000;
  for (;;) {
    await sleep(intervalMs, options.signal);
    const answer = await transport.send<Poll>("GET", path, { headers, signal: options.signal, idempotent: false });
    if (answer.status === 429) {
      // Too fast for latchkey: wait what it says, and keep the slower pace.
      intervalMs = Math.max(intervalMs, Number(answer.headers.get("retry-after") ?? 1) * 1000);
      continue;
    }
    if (answer.status === 404) throw new LatchkeyError("CLI_LOGIN_DENIED", 404, "The login was denied.");
    if (answer.status !== 200) throw new LatchkeyError("UNEXPECTED_ANSWER", answer.status, `HTTP ${answer.status}`);
    const poll = answer.body;
    if (poll.status === "expired") throw new LatchkeyError("CLI_LOGIN_EXPIRED", 410, "The login expired unapproved.");
    if (poll.status === "completed") {
      await options.save?.(poll.apiKey);
      await transport.call("DELETE", path, { headers, signal: options.signal });
      return { apiKey: poll.apiKey };
    }
  }
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
