/**
 * The approval page and the docs reader in real headless Chromium (Debian's chromium, driven by playwright-core):
 * a CLI starts a login, the user approves on latchkey's page with the token the host app handed over, the browser
 * goes to the CLI's callback, and the CLI's poll returns a working key. Nothing is fetched from any other host.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { createApprover, mintSession, startCliLogin } from "../support/keys.ts";
import { createWorld, type World } from "../support/world.ts";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((path) => existsSync(path)) ?? null;

// CI installs Debian's chromium (.ci/run); a machine without it says so here instead of passing silently.
describe.skipIf(CHROMIUM === null)("in a real browser", () => {
  let browser: Browser;
  let world: World;
  let callbackServer: ReturnType<typeof Bun.serve>;
  const callbacks: string[] = [];

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM!,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    world = await createWorld({ transport: "http" });
    // The page is served from latchkey's own origin, which is its public URL.
    world.deps.settings.publicUrl = world.baseUrl;
    callbackServer = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch(request) {
        callbacks.push(request.url);
        return new Response("<p>You can close this tab.</p>", { headers: { "content-type": "text/html" } });
      },
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    callbackServer?.stop(true);
    await world?.close();
  });

  /** A page that refuses every request to any host but latchkey and the CLI's callback, and records them all. */
  async function localOnlyPage() {
    const context = await browser.newContext();
    const page = await context.newPage();
    const requested: string[] = [];
    const local = [world.baseUrl, `http://127.0.0.1:${callbackServer.port}`];
    await page.route("**/*", (route) => {
      const url = route.request().url();
      requested.push(url);
      return local.some((prefix) => url.startsWith(prefix)) ? route.continue() : route.abort();
    });
    return { page, requested, local };
  }

  test("approve on the built-in page: the browser goes to the callback, the CLI collects a working key", async () => {
    const callbackUrl = `http://127.0.0.1:${callbackServer.port}/callback`;
    const { sessionId, userCode, verificationUrl } = await startCliLogin(
      world,
      { deviceName: "ci runner", callbackUrl, scopes: ["runs:read"] },
      { "user-agent": "acme-cli/4.0" },
    );
    const approver = await createApprover(world);
    const token = await mintSession(world, approver.secret, {
      user_id: "user_77",
      scopes: ["cli:approve", "runs:read"],
    });
    const { page, requested, local } = await localOnlyPage();

    const response = await page.goto(`${verificationUrl}#token=${token}`);
    expect(response!.headers()["content-security-policy"]).toContain("frame-ancestors 'none'");
    await page.locator("#details").waitFor({ state: "visible" });
    expect(page.url()).not.toContain("token=");
    expect(await page.locator("#device").textContent()).toBe("ci runner");
    expect(await page.locator("#code").textContent()).toBe(userCode);
    expect(await page.locator("#agent").textContent()).toBe("acme-cli/4.0");
    expect(await page.locator("#scopes").textContent()).toBe("runs:read");
    // Regression: the destination and the project are shown before the user decides.
    expect(await page.locator("#next").textContent()).toBe(`your browser goes to 127.0.0.1:${callbackServer.port}`);
    expect(await page.locator("#project").textContent()).toBe("default");

    await page.locator("#approve").click();
    await page.waitForURL(callbackUrl);
    expect(callbacks).toContain(callbackUrl);
    expect(requested.every((url) => local.some((prefix) => url.startsWith(prefix)))).toBe(true);

    const poll = await world.call("GET", `/v1/api/auth/sessions/${sessionId}`);
    expect(poll.body.status).toBe("completed");
    const verified = await world.call("POST", "/v1/keys/verify", { body: { key: poll.body.apiKey } });
    expect(verified.body).toMatchObject({ valid: true, owner: "user_77", scopes: ["runs:read"] });
    await page.context().close();
  }, 60_000);

  test("deny on the built-in page: the CLI's poll answers 404", async () => {
    const { sessionId, verificationUrl } = await startCliLogin(world, {
      deviceName: "stranger's laptop",
      scopes: ["runs:read"],
    });
    const approver = await createApprover(world);
    const token = await mintSession(world, approver.secret, {
      user_id: "user_78",
      scopes: ["cli:approve", "runs:read"],
    });
    const { page } = await localOnlyPage();
    await page.goto(`${verificationUrl}#token=${token}`);
    await page.locator("#details").waitFor({ state: "visible" });
    expect(await page.locator("#next").textContent()).toBe("you stay on this page");
    await page.locator("#deny").click();
    await page.locator("#done").waitFor({ state: "visible" });
    expect(await page.locator("#done-text").textContent()).toContain("Denied");
    expect((await world.call("GET", `/v1/api/auth/sessions/${sessionId}`)).status).toBe(404);
    await page.context().close();
  }, 60_000);

  test("without a token the page explains itself and changes nothing", async () => {
    const { sessionId, verificationUrl } = await startCliLogin(world, { scopes: ["runs:read"] });
    const { page } = await localOnlyPage();
    await page.goto(verificationUrl);
    await page.locator("#problem").waitFor({ state: "visible" });
    expect((await world.call("GET", `/v1/api/auth/sessions/${sessionId}`)).body.status).toBe("pending");
    await page.context().close();
  }, 60_000);

  test("/docs renders the API reference with no network beyond latchkey, and no hosted-service buttons", async () => {
    const { page, requested, local } = await localOnlyPage();
    await page.goto(`${world.baseUrl}/docs`);
    await page
      .getByText("Create an API key with exactly the scopes listed", { exact: false })
      .first()
      .waitFor({ timeout: 30_000 });
    expect(requested.every((url) => local.some((prefix) => url.startsWith(prefix)))).toBe(true);
    // Regression: an offline, self-hosted server offers none of the reader's hosted services.
    const text = await page.locator("body").textContent();
    for (const label of [
      "Ask AI",
      "Generate MCP",
      "Connect MCP",
      "VS Code",
      "Cursor",
      "Deploy",
      "Share",
      "Developer Tools",
    ])
      expect(text).not.toContain(label);
    await page.context().close();
  }, 60_000);
});
