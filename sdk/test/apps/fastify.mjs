// Fastify 5 on Node: the scenario app every middleware test drives (see ../support/scenarios.ts).
import { latchkey, latchkeyPlugin } from "@latchkey/sdk/fastify";
import Fastify from "fastify";

const baseUrl = process.env.LATCHKEY_URL;
const projectId = process.env.PROJECT_ID;
const app = Fastify();
const answer = async (request) => ({ latchkey: request.latchkey });
// The plugin checks every route of its scope; the others use the preHandler hook one route at a time.
await app.register(async (scope) => {
  await scope.register(latchkeyPlugin, { baseUrl, scopes: ["runs:read"] });
  scope.get("/read", answer);
  scope.post("/read", answer);
});
app.get("/write", { preHandler: latchkey({ baseUrl, scopes: ["runs:write"] }) }, answer);
app.get("/offline", { preHandler: latchkey({ baseUrl, scopes: ["runs:read"], tokens: "offline", projectId }) }, answer);
app.get("/down", { preHandler: latchkey({ baseUrl: process.env.DEAD_URL, scopes: ["runs:read"] }) }, answer);
app.get("/down-read-only", { preHandler: latchkey({ baseUrl: process.env.DEAD_URL, failOpen: "read-only" }) }, answer);
await app.listen({ port: 0, host: "127.0.0.1" });
console.log(`listening ${app.server.address().port}`);
