/**
 * The layers of src/, lowest first; a module may import its own layer and the layers below it, never one above:
 *
 *   lib      src/lib/, src/errors.ts          primitives and the error catalogue
 *   db       src/db/                          schema, client, migrations, transactions
 *   domain   audit, keys, tenants, sessions,  services, stores and models (not their routes or wire schemas)
 *            cli-login, ratelimit
 *   auth     src/auth/                        the credential core: principal, decision, caches, authenticate, admission
 *   http     src/http/                        route table type, mount, error edge, CORS, request state, document
 *   routes   src/<feature>/routes.ts, schemas.ts, page.ts, src/verify/, src/ops/
 *   app      src/app.ts, deps.ts, server.ts, workers.ts, main.ts, config.ts, src/commands/
 *
 * `bun run lint` runs it; a new upward import, or any cycle, fails CI.
 */
const LIB = "^src/(lib/|errors\\.ts$)";
const DB = "^src/db/";
const DOMAIN = "^src/(audit|keys|tenants|sessions|cli-login|ratelimit)/(?!(routes|schemas|page)\\.ts$)";
const AUTH = "^src/auth/";
const HTTP = "^src/http/";
const ROUTES = "^src/([^/]+/(routes|schemas|page)\\.ts$|verify/|ops/)";
const APP = "^src/((app|deps|server|workers|main|config)\\.ts$|commands/)";

const layers = [
  ["lib", LIB],
  ["db", DB],
  ["domain", DOMAIN],
  ["auth", AUTH],
  ["http", HTTP],
  ["routes", ROUTES],
  ["app", APP],
];

const upward = layers.flatMap(([name, path], index) =>
  layers.slice(index + 1).map(([above, abovePath]) => ({
    name: `${name}-not-above-${above}`,
    comment: `${name} sits below ${above}: it may not import it`,
    severity: "error",
    from: { path },
    to: { path: abovePath },
  })),
);

module.exports = {
  forbidden: [
    ...upward,
    {
      name: "no-cycles",
      comment: "modules (and so folders) import each other in one direction only",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "every-module-in-a-layer",
      comment: "a file of src/ outside every layer has no import rule to keep: put it in one",
      severity: "error",
      from: { path: "^src/", pathNot: [LIB, DB, DOMAIN, AUTH, HTTP, ROUTES, APP] },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js", ".json"] },
  },
};
