// Runs autocannon (under node) for machines without wrk. Input: one JSON argument; output: one JSON line.

import { readFileSync } from "node:fs";
import autocannon from "autocannon";

const spec = JSON.parse(process.argv[2]);
const tokens = spec.tokensFile ? readFileSync(spec.tokensFile, "utf8").split("\n").filter(Boolean) : null;
let next = 0;
const result = await autocannon({
  url: spec.url,
  connections: spec.connections,
  duration: spec.seconds,
  method: spec.method,
  headers: spec.headers,
  body: spec.body,
  requests: tokens
    ? [
        {
          setupRequest: (request) => ({
            ...request,
            headers: { ...request.headers, "x-session-token": tokens[next++ % tokens.length] },
          }),
        },
      ]
    : undefined,
});
console.log(
  JSON.stringify({
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
  }),
);
