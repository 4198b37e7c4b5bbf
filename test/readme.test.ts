/** The README is part of the contract: its tables must name every setting and every error code the server has. */
import { describe, expect, test } from "bun:test";
import { CONFIG_SETTINGS, DEFAULT_CONFIG } from "../src/app/config.ts";
import { ERROR_CATALOGUE, type ErrorCode } from "../src/lib/errors.ts";

const readme = await Bun.file(new URL("../README.md", import.meta.url)).text();

describe("README", () => {
  test("lists every configuration variable with its flag and default", () => {
    for (const setting of CONFIG_SETTINGS) {
      const row = readme.split("\n").find((line) => line.startsWith(`| \`${setting.env}\` |`));
      expect({ env: setting.env, row: row !== undefined }).toEqual({ env: setting.env, row: true });
      expect(row).toContain(setting.flag ? `\`${setting.flag}\`` : "—");
      // A setting with a default states the one the configuration applies.
      const applied = DEFAULT_CONFIG[setting.key];
      if (applied !== undefined && applied !== "") {
        expect({ env: setting.env, default: row?.split(" | ")[2] }).toEqual({
          env: setting.env,
          default: String(applied),
        });
      }
    }
  });

  test("lists every error code with its status", () => {
    for (const [code, entry] of Object.entries(ERROR_CATALOGUE) as [ErrorCode, { status: number }][]) {
      const row = readme
        .split("\n")
        .find((line) => line.startsWith(`| ${entry.status} |`) && line.includes(`\`${code}\``));
      expect({ code, documented: row !== undefined }).toEqual({ code, documented: true });
    }
  });

  test("gives the two quick-start commands", () => {
    expect(readme).toContain("bun install && bun run start");
    expect(readme).toContain("bun test ");
  });
});
