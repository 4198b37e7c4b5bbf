// Every export of the package, used as a consumer would: `tsc --noEmit` on this file checks the published types.
import {
  type ApiKey,
  type AuditEvent,
  type CreatedKey,
  cliLogin,
  createTokenVerifier,
  type ErrorBody,
  Latchkey,
  LatchkeyError,
  type LatchkeyIdentity,
  type operations,
  type Project,
  type RequestBody,
  type ResponseBody,
  type TokenClaims,
  type Verification,
} from "@latchkey/sdk";
import { latchkey as forExpress } from "@latchkey/sdk/express";
import { latchkey as forFastify, latchkeyPlugin } from "@latchkey/sdk/fastify";
import { latchkeyOf, withLatchkey } from "@latchkey/sdk/fetch";
import { latchkey as forHono, type LatchkeyVariables } from "@latchkey/sdk/hono";
import { readKeyFile, saveKeyFile } from "@latchkey/sdk/node";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";

const client = new Latchkey({ baseUrl: "http://127.0.0.1:8787", key: "sk_live_x", timeoutMs: 5_000, retries: 1 });
const body: RequestBody<"createKey"> = { name: "typed", scopes: ["runs:read"] };
const created: CreatedKey = await client.keys.create(body);
const fetched: ApiKey = await client.keys.get(created.id);
const listed: ResponseBody<"listKeys"> = await client.keys.list({ limit: 10 });
for await (const page of client.keys.list()) page.data satisfies ApiKey[];
const verified: Verification = await client.verify({ key: created.secret, scopes: ["runs:read"] });
const project: Project = await client.projects.get(fetched.project_id);
const events: AuditEvent[] = (await client.audit.list({ action: "key.created" })).data;
const status: operations["getKey"]["responses"][200]["content"]["application/json"]["revoked_at"] = fetched.revoked_at;
// @ts-expect-error: a key needs scopes, the types know the body
await client.keys.create({ name: "no scopes" });

try {
  await client.keys.revoke(created.id);
} catch (error) {
  if (error instanceof LatchkeyError) error.toBody() satisfies ErrorBody;
}

const verifier = createTokenVerifier({ baseUrl: "http://127.0.0.1:8787", audience: project.id });
const claims: TokenClaims = await verifier.verify("token");
const login: { apiKey: string } = await cliLogin({ baseUrl: "http://x", deviceName: "d", onCode: () => {} });
await saveKeyFile("/tmp/key", login.apiKey);
const saved: string | null = await readKeyFile("/tmp/key");

const expressApp = express();
expressApp.use(forExpress({ baseUrl: "http://127.0.0.1:8787", apiKeyHeader: "x-api-key" }));
expressApp.get("/", (req, res) => {
  const who: LatchkeyIdentity | null | undefined = req.latchkey;
  res.json({ who });
});

const fastifyApp = Fastify();
await fastifyApp.register(latchkeyPlugin, { baseUrl: "http://127.0.0.1:8787", scopes: ["runs:read"] });
fastifyApp.get("/", { preHandler: forFastify({ baseUrl: "http://127.0.0.1:8787", tokens: "remote" }) }, async (r) => {
  const who: LatchkeyIdentity | null = r.latchkey;
  return { who };
});

const honoApp = new Hono<{ Variables: LatchkeyVariables }>();
honoApp.use(forHono({ baseUrl: "http://127.0.0.1:8787", failOpen: "read-only" }));
honoApp.get("/", (c) => c.json({ who: c.get("latchkey")?.keyId ?? null }));

const handler = withLatchkey(
  (request: Request, extra: { env: string }) => Response.json([latchkeyOf(request), extra]),
  {
    baseUrl: "http://127.0.0.1:8787",
    tokens: "offline",
    projectId: project.id,
  },
);
const answered: Response = await handler(new Request("http://x/"), { env: "prod" });

export { answered, claims, events, listed, saved, status, verified };
