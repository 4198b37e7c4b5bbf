/**
 * The second baseline: a bare Bun.serve doing what `/v1/authz` must do observably and nothing more. It reads the
 * Authorization header, hashes it (SHA-256, as a key lookup does), and answers the same status, the same 224-byte
 * body and the same response headers as latchkey's answer for a cached key. No lookup, no bucket, no framework: the
 * limit for this job on whatever machine runs it.
 */
import { createHash } from "node:crypto";

const port = Number(process.argv[2] ?? 0);
const ID = "key_0356N5M5AyTFXxMmQBuOL6";
const PROJECT = "prj_0356N5M3BUxnQ2Z1V4imPe";
const TENANT = "ten_0356N5M3BUxnQ2Z1V4imPd";
let served = 0;

const server = Bun.serve({
  port,
  hostname: "127.0.0.1",
  fetch(request) {
    const authorization = request.headers.get("authorization") ?? "";
    const hash = createHash("sha256").update(authorization.slice(7)).digest("hex");
    const remaining = 999 - (served++ % 999);
    const body =
      `{"object":"authorization","allowed":true,"key_id":"${ID}","project_id":"${PROJECT}",` +
      `"tenant_id":"${TENANT}","subject":"${ID}","scopes":["runs:read"]}`;
    return new Response(body, {
      headers: {
        "cache-control": "no-store",
        "content-type": "application/json;charset=utf-8",
        ratelimit: `"key";r=${remaining};t=1`,
        "ratelimit-policy": '"key";q=1000;w=60',
        "x-content-type-options": "nosniff",
        "x-latchkey-key-id": hash.length === 64 ? ID : "",
        "x-latchkey-project-id": PROJECT,
        "x-latchkey-scopes": "runs:read",
        "x-latchkey-subject": ID,
        "x-latchkey-tenant-id": TENANT,
        "x-ratelimit-limit": "1000",
        "x-ratelimit-remaining": String(remaining),
        "x-ratelimit-reset": String(Math.ceil(Date.now() / 1000) + 1),
        "x-request-id": `req_${served.toString(36).padStart(20, "0")}`,
      },
    });
  },
});
console.log(`listening ${server.port}`);
