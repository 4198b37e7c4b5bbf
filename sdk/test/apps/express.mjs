// Express 5 on Node: the scenario app every middleware test drives (see ../support/scenarios.ts).
import { latchkey } from "@latchkey/sdk/express";
import express from "express";

const baseUrl = process.env.LATCHKEY_URL;
const projectId = process.env.PROJECT_ID;
const app = express();
const answer = (req, res) => res.json({ latchkey: req.latchkey });
const read = latchkey({ baseUrl, scopes: ["runs:read"] });
app.get("/read", read, answer);
app.post("/read", read, answer);
app.get("/write", latchkey({ baseUrl, scopes: ["runs:write"] }), answer);
app.get("/offline", latchkey({ baseUrl, scopes: ["runs:read"], tokens: "offline", projectId }), answer);
app.get("/down", latchkey({ baseUrl: process.env.DEAD_URL, scopes: ["runs:read"] }), answer);
app.get("/down-read-only", latchkey({ baseUrl: process.env.DEAD_URL, failOpen: "read-only" }), answer);
const server = app.listen(0, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
