/**
 * Runs before every test file (bunfig.toml). With LATCHKEY_TEST_POSTGRES_URL set, creates this run's own database on
 * that server and drops it when the run ends, so runs sharing a server never see each other's rows.
 */
import { afterAll } from "bun:test";
import { RUN_DATABASE_ENV, withAdmin } from "./engines.ts";

const server = process.env.LATCHKEY_TEST_POSTGRES_URL;
if (server && !process.env[RUN_DATABASE_ENV]) {
  const name = `latchkey_test_${process.pid}_${crypto.randomUUID().slice(0, 8)}`;
  await withAdmin(server, (admin) => admin.query(`CREATE DATABASE "${name}"`));
  const url = new URL(server);
  url.pathname = `/${name}`;
  process.env[RUN_DATABASE_ENV] = url.toString();
  afterAll(() => withAdmin(server, (admin) => admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)));
}
