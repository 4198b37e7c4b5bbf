// withLatchkey on a bare Bun.serve, any method to each route: the scenario app (see ../support/scenarios.ts).
import { latchkeyOf, withLatchkey } from "@latchkey/sdk/fetch";

const baseUrl = process.env.LATCHKEY_URL!;
const projectId = process.env.PROJECT_ID!;
const deadUrl = process.env.DEAD_URL!;
const answer = (request: Request) => Response.json({ latchkey: latchkeyOf(request) });
const routes: Record<string, (request: Request) => Promise<Response>> = {
  "/read": withLatchkey(answer, { baseUrl, scopes: ["runs:read"] }),
  "/write": withLatchkey(answer, { baseUrl, scopes: ["runs:write"] }),
  "/offline": withLatchkey(answer, { baseUrl, scopes: ["runs:read"], tokens: "offline", projectId }),
  "/down": withLatchkey(answer, { baseUrl: deadUrl, scopes: ["runs:read"] }),
  "/down-read-only": withLatchkey(answer, { baseUrl: deadUrl, failOpen: "read-only" }),
};
const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch: (request) => routes[new URL(request.url).pathname]?.(request) ?? new Response("not found", { status: 404 }),
});
console.log(`listening ${server.port}`);
