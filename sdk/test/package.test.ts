/**
 * The package as users get it: `npm pack`, installed from the tarball into a fresh project with Express 5, Fastify 5
 * and Hono 4 as the README says, then used against the compiled latchkey — Express and Fastify under Node, Hono and a
 * bare Bun.serve under Bun, a CLI login under Node, the README's client example — and typechecked as a consumer
 * (every export, and the README's examples) under each module resolution the README names.
 *
 * It installs from the npm registry, so it runs once per CI run, in the SQLite pass: the SDK speaks HTTP only, and
 * the engine behind latchkey changes nothing it sees.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "../../test/support/binary.ts";
import { Latchkey } from "../src/index.ts";
import { SDK_VERSION } from "../src/version.ts";
import { useLatchkeyd } from "./support/latchkeyd.ts";
import { approveLogin, checkScenarios, fixtures, startApp } from "./support/scenarios.ts";

const SKIP = process.env.LATCHKEY_TEST_POSTGRES_URL
  ? " (skipped: runs once, in the SQLite pass; the SDK sees only HTTP)"
  : "";
const SDK = join(import.meta.dir, "..");
const VERSIONS = { express: "5.3.0", fastify: "5.12.8", hono: "4.13.19" };

describe.skipIf(SKIP !== "")(`the packed package, installed${SKIP}`, () => {
  const latchkeyd = useLatchkeyd("sdk-package");
  const workspace = makeTempDir("sdk-package");
  const project = join(workspace.path, "consumer");
  let tarball = "";
  afterAll(() => workspace.remove());

  beforeAll(() => {
    const packed = run(["npm", "pack", "--pack-destination", workspace.path, "--json"], SDK);
    tarball = join(workspace.path, JSON.parse(packed)[0].filename);
    cpSync(join(import.meta.dir, "apps"), project, { recursive: true });
    writeFileSync(
      join(project, "package.json"),
      JSON.stringify({
        name: "consumer",
        private: true,
        type: "module",
        dependencies: {
          ...VERSIONS,
          typescript: "5.9.3",
          "@types/express": "5.0.4",
          "@types/node": "20.19.43",
        },
      }),
    );
    // As the README says: `npm install <the tarball>` (the project's other dependencies come with it).
    run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", tarball], project);
  }, 300_000);

  test("the tarball holds dist/ (JavaScript and types), the README and the LICENSE, and depends on jose alone", () => {
    const listing = run(["tar", "-tzf", tarball], workspace.path).split("\n");
    expect(listing).toContain("package/dist/index.js");
    expect(listing).toContain("package/dist/index.d.ts");
    expect(listing).toContain("package/dist/hono.d.ts");
    expect(listing).toContain("package/README.md");
    // regression: the packed package carried no license
    expect(listing).toContain("package/LICENSE");
    expect(readFileSync(join(project, "node_modules/@latchkey/sdk/LICENSE"), "utf8")).toStartWith("MIT License");
    expect(listing.filter((file) => file.includes("/src/") || file.includes("/test/"))).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(project, "node_modules/@latchkey/sdk/package.json"), "utf8"));
    expect(Object.keys(manifest.dependencies)).toEqual(["jose"]);
  });

  test("regression: the README installs what exists: the tarball npm pack writes, not a registry package", () => {
    const readme = readFileSync(join(SDK, "README.md"), "utf8");
    const install = /```sh\n([\s\S]*?)```/.exec(readme)![1]!;
    expect(install).not.toMatch(/npm install @latchkey\/sdk\b/);
    expect(install).toContain("npm pack");
    const tarballName = tarball.slice(tarball.lastIndexOf("/") + 1);
    expect(install).toContain(`npm install /path/to/latchkey/sdk/${tarballName}`);
    expect(tarballName).toBe(`latchkey-sdk-${SDK_VERSION}.tgz`);
  });

  test("regression: the README's client example prints what its comments say", async () => {
    const readme = readFileSync(join(SDK, "README.md"), "utf8");
    const example = /```ts\n([\s\S]*?)```/.exec(readme)![1]!.replaceAll("http://127.0.0.1:8787", latchkeyd.server.url);
    writeFileSync(join(project, "readme-client.ts"), example);
    const ran = Bun.spawnSync([process.execPath, "readme-client.ts"], {
      cwd: project,
      env: { ...process.env, LATCHKEY_KEY: latchkeyd.server.rootKey },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(ran.stderr.toString()).toBe("");
    const lines = ran.stdout.toString().trim().split("\n");
    expect(lines).toContain("SCOPE_NOT_GRANTED");
    expect(lines.at(-1)).toMatch(/^NOT_FOUND 404 req_\w+ \[\]$/);
    expect(example).toContain("// → NOT_FOUND 404 req_… []");
  }, 30_000);

  const apps: [string, string[]][] = [
    ["Express 5 under Node", ["node", "express.mjs"]],
    ["Fastify 5 under Node", ["node", "fastify.mjs"]],
    ["Hono 4 under Bun", [process.execPath, "hono.ts"]],
    ["withLatchkey on Bun.serve", [process.execPath, "serve.ts"]],
  ];
  for (const [name, command] of apps) {
    test(`${name}: every middleware scenario`, async () => {
      if (command[0] === "node") expect(run(["node", "--version"], project)).toMatch(/^v(2\d|[3-9]\d)\./);
      const app = await startApp(command, latchkeyd.server, project);
      try {
        await checkScenarios(app.url, latchkeyd.server, await fixtures(latchkeyd.server));
      } finally {
        app.stop();
      }
    }, 30_000);
  }

  test("a CLI under Node logs in: the code approved over the API, the key saved 0600 and working", async () => {
    const admin = new Latchkey({ baseUrl: latchkeyd.server.url, key: latchkeyd.server.rootKey });
    const approver = await admin.keys.create({ name: "approver", scopes: ["cli:approve", "runs:read"] });
    const keyFile = join(project, "home", "credentials");
    const cli = Bun.spawn(["node", "cli.mjs"], {
      cwd: project,
      env: { ...process.env, LATCHKEY_URL: latchkeyd.server.url, KEY_FILE: keyFile },
      stdout: "pipe",
      stderr: "pipe",
    });
    let output = "";
    let userAgent = "";
    const decoder = new TextDecoder();
    for await (const chunk of cli.stdout) {
      output += decoder.decode(chunk, { stream: true });
      const code = /code (\S+)/.exec(output)?.[1];
      if (code && !output.includes("approved")) {
        output += "approved";
        // regression: the approval page showed "node" as the requester's user agent
        const pending = await fetch(`${latchkeyd.server.url}/v1/api/auth/codes/${code}`, {
          headers: { authorization: `Bearer ${approver.secret}` },
        }).then((answer) => answer.json());
        userAgent = pending.requester_user_agent;
        await approveLogin(latchkeyd.server, approver.secret, code, "user_node");
      }
    }
    expect(await cli.exited, await new Response(cli.stderr).text()).toBe(0);
    expect(output).toContain("saved sk_live_");
    expect(userAgent).toBe(
      `latchkey-sdk/${SDK_VERSION} (node/${run(["node", "-p", "process.versions.node"], project)})`,
    );
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = readFileSync(keyFile, "utf8").trim();
    expect(await admin.verify({ key })).toMatchObject({ valid: true, owner: "user_node" });
  }, 30_000);

  test("types: a consumer using every export, and every example of the README, pass tsc --noEmit", () => {
    const readme = readFileSync(join(SDK, "README.md"), "utf8");
    const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
    expect(examples.length).toBeGreaterThanOrEqual(6);
    const files = examples.map((example, index) => {
      const file = `readme-${index + 1}.ts`;
      // Each example is a module of its own (top-level await, its own names).
      writeFileSync(join(project, file), `${example}\nexport {};\n`);
      return file;
    });
    // regression: under Node10 resolution (the old "node"), the subpaths' types were not found
    for (const [module, moduleResolution] of [
      ["NodeNext", "NodeNext"],
      ["Node16", "Node16"],
      ["ESNext", "Bundler"],
      ["ESNext", "Node10"],
    ]) {
      writeFileSync(
        join(project, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: {
            target: "ES2022",
            module,
            moduleResolution,
            esModuleInterop: true,
            lib: ["ES2022", "DOM", "DOM.AsyncIterable"],
            types: ["node"],
            strict: true,
            noEmit: true,
            skipLibCheck: false,
          },
          files: ["consumer.ts", ...files],
        }),
      );
      const checked = Bun.spawnSync([join(project, "node_modules/.bin/tsc"), "-p", project], { cwd: project });
      const output = checked.stdout.toString() + checked.stderr.toString();
      expect({ moduleResolution, output }).toEqual({ moduleResolution, output: "" });
      expect(checked.exitCode).toBe(0);
    }
  }, 240_000);
});

function run(command: string[], cwd: string): string {
  const result = Bun.spawnSync(command, { cwd, stdout: "pipe", stderr: "pipe", env: process.env });
  if (result.exitCode !== 0) {
    throw new Error(`${command.join(" ")} failed (${result.exitCode}):\n${result.stderr}\n${result.stdout}`);
  }
  return result.stdout.toString().trim();
}
