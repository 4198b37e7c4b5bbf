/**
 * The layers of src/ are its folders, lowest first; a module may import its own folder and the folders below it,
 * never one above:
 *
 *   src/lib/       primitives and the error catalogue
 *   src/db/        schema, clients, migrations, transactions, backup
 *   src/domain/    one folder per feature: models, services and stores (ratelimit: buckets and leases)
 *   src/auth/      the credential core: principal, decision, caches, authentication, admission
 *   src/http/      route table type, mount, error edge, CORS, request state, the document
 *   src/api/       one folder per feature: route rows, wire schemas, pages; api/verify/ is the data plane
 *   src/app/       app, dependencies, server, housekeeping, workers, configuration, commands
 *   src/main.ts    the entry point
 *
 * Outside src/: test/ never imports scripts/ (scripts may use test/support/), and src/ imports neither.
 * `bun run lint` runs it; a new upward import, or any cycle, fails CI.
 */
const layers = ["lib", "db", "domain", "auth", "http", "api", "app"].map((name) => [name, `^src/${name}/`]);
layers.push(["main", "^src/main\\.ts$"]);

const upward = layers.flatMap(([name, path], index) =>
  layers.slice(index + 1).map(([above, abovePath]) => ({
    name: `${name}-not-above-${above}`,
    comment: `src/${name} sits below src/${above}: it may not import it`,
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
      comment: "a file of src/ outside every layer folder has no import rule to keep: put it in one",
      severity: "error",
      from: { path: "^src/", pathNot: layers.map(([, path]) => path) },
      to: {},
    },
    {
      name: "tests-not-above-scripts",
      comment: "scripts may use test/support/; a test importing a script would make the tools a layer below the tests",
      severity: "error",
      from: { path: "^(test|sdk/test)/" },
      to: { path: "^scripts/" },
    },
    {
      name: "src-not-above-its-tools",
      comment: "the server never imports its tests or scripts",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^(test|scripts)/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js", ".mjs", ".json"] },
  },
};
