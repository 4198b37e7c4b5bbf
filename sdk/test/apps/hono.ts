// Hono 4 on Bun: the scenario app every middleware test drives (see ../support/scenarios.ts).
import { type LatchkeyVariables, latchkey } from "@latchkey/sdk/hono";
import { Hono } from "hono";

const baseUrl = process.env.LATCHKEY_URL!;
const projectId = process.env.PROJECT_ID!;
const deadUrl = process.env.DEAD_URL!;
const app = new Hono<{ Variables: LatchkeyVariables }>();
const read = latchkey({ baseUrl, scopes: ["runs:read"] });
app.on(["GET", "POST"], "/read", read, (c) => c.json({ latchkey: c.get("latchkey") }));
app.get("/write", latchkey({ baseUrl, scopes: ["runs:write"] }), (c) => c.json({ latchkey: c.get("latchkey") }));
app.get("/offline", latchkey({ baseUrl, scopes: ["runs:read"], tokens: "offline", projectId }), (c) =>
  c.json({ latchkey: c.get("latchkey") }),
);
app.get("/down", latchkey({ baseUrl: deadUrl, scopes: ["runs:read"] }), (c) => c.json({ latchkey: c.get("latchkey") }));
app.get("/down-read-only", latchkey({ baseUrl: deadUrl, failOpen: "read-only" }), (c) =>
  c.json({ latchkey: c.get("latchkey") }),
);
const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
console.log(`listening ${server.port}`);
