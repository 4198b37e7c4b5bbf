/**
 * The storage interface's promises, on the run's engine: a write transaction is all or nothing, concurrent ones
 * behave as if they ran one at a time, and a database that cannot answer is told apart from a query that is wrong.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { PostgresStorage } from "../../src/db/postgres.ts";
import type { Storage } from "../../src/db/storage.ts";
import { isStorageUnavailable } from "../../src/db/unavailable.ts";
import { ensureDefaults } from "../../src/domain/tenants/bootstrap.ts";
import { DeadlineExceeded } from "../../src/lib/deadline.ts";
import { makeTempDir } from "../support/binary.ts";
import {
  type DatabasePlace,
  dropPlace,
  freshPlace,
  openPlace,
  placeUrl,
  rawQuery,
  testEngine,
  withAdmin,
} from "../support/engines.ts";

const opened: { place: DatabasePlace; storage: Storage }[] = [];
afterEach(async () => {
  for (const { place, storage } of opened.splice(0)) {
    await storage.close().catch(() => {});
    await dropPlace(place);
  }
});

async function freshStorage(sqliteFile?: string): Promise<{ storage: Storage; tenantId: string }> {
  const place = freshPlace(sqliteFile);
  const storage = openPlace(place);
  opened.push({ place, storage });
  await storage.migrate(1);
  const { tenantId } = await ensureDefaults(storage, undefined, 1);
  return { storage, tenantId };
}

describe("write transactions", () => {
  test("one that fails after writing leaves nothing behind", async () => {
    const { storage, tenantId } = await freshStorage();
    const { tenants } = storage.reader.tables;
    await expect(
      storage.writeTransaction(async (tx) => {
        await tx.drizzle.update(tenants).set({ name: "half-written" }).where(eq(tenants.id, tenantId));
        await Bun.sleep(1); // across a turn of the event loop, as real work (hashing, sealing) does
        throw new Error("refused after the write");
      }),
    ).rejects.toThrow("refused after the write");
    const [tenant] = await storage.reader.drizzle.select().from(tenants).where(eq(tenants.id, tenantId));
    expect(tenant!.name).toBe("default");
  });

  test("concurrent read-decide-write transactions lose no update", async () => {
    const { storage, tenantId } = await freshStorage();
    const { tenants } = storage.reader.tables;
    const writers = 20;
    await Promise.all(
      Array.from({ length: writers }, (_, index) =>
        storage.writeTransaction(async (tx) => {
          const [tenant] = await tx.drizzle.select().from(tenants).where(eq(tenants.id, tenantId));
          await Bun.sleep(index % 3); // let the others read the same row meanwhile
          await tx.drizzle
            .update(tenants)
            .set({ name: `${tenant!.name}+` })
            .where(eq(tenants.id, tenantId));
        }),
      ),
    );
    const [tenant] = await storage.reader.drizzle.select().from(tenants).where(eq(tenants.id, tenantId));
    expect(tenant!.name).toBe(`default${"+".repeat(writers)}`);
  });

  test("reads see only what is committed, never the rows of a transaction still open", async () => {
    const folder = makeTempDir("dirty-read");
    try {
      const { storage, tenantId } = await freshStorage(join(folder.path, "file.db"));
      const { tenants } = storage.reader.tables;
      const nameNow = async () =>
        (await storage.reader.drizzle.select().from(tenants).where(eq(tenants.id, tenantId)))[0]!.name;
      let finish!: () => void;
      const held = new Promise<void>((resolve) => {
        finish = resolve;
      });
      let written!: () => void;
      const wrote = new Promise<void>((resolve) => {
        written = resolve;
      });
      const transaction = storage.writeTransaction(async (tx) => {
        await tx.drizzle.update(tenants).set({ name: "uncommitted" }).where(eq(tenants.id, tenantId));
        written();
        await held;
      });
      await wrote;
      expect(await nameNow()).toBe("default");
      finish();
      await transaction;
      expect(await nameNow()).toBe("uncommitted");
    } finally {
      for (const { storage } of opened) await storage.close().catch(() => {});
      folder.remove();
    }
  });

  test("after-commit work runs once the transaction committed, and never after a rollback", async () => {
    const { storage } = await freshStorage();
    const ran: string[] = [];
    await storage.writeTransaction(async (tx) => {
      tx.afterCommit(() => {
        ran.push("committed");
      });
      expect(ran).toEqual([]);
    });
    await storage
      .writeTransaction(async (tx) => {
        tx.afterCommit(() => {
          ran.push("rolled back");
        });
        throw new Error("no");
      })
      .catch(() => {});
    expect(ran).toEqual(["committed"]);
  });
});

describe("telling an unreachable database from a wrong query", () => {
  test("a refused connection, a missed deadline or a closed database are unavailability", async () => {
    const nowhere = new PostgresStorage("postgres://latchkey@127.0.0.1:1/none", { connectTimeoutMilliseconds: 1000 });
    const refused = await nowhere.appliedMigrations().catch((error: unknown) => error);
    await nowhere.close();
    expect(isStorageUnavailable(refused)).toBe(true);
    expect(isStorageUnavailable(new DeadlineExceeded("the database", 2000))).toBe(true);
    const { storage } = await freshStorage();
    await storage.close();
    expect(isStorageUnavailable(await storage.appliedMigrations().catch((error: unknown) => error))).toBe(true);
  });

  test("a wrong query or a broken constraint is not", async () => {
    const { storage, tenantId } = await freshStorage();
    const syntax = await rawQuery(storage, "SELEC nonsense").catch((error: unknown) => error);
    expect(syntax).toBeInstanceOf(Error);
    expect(isStorageUnavailable(syntax)).toBe(false);
    const { tenants } = storage.reader.tables;
    const [tenant] = await storage.reader.drizzle.select().from(tenants).where(eq(tenants.id, tenantId));
    const duplicate = await storage
      .writeTransaction((tx) => tx.drizzle.insert(tenants).values(tenant!))
      .catch((error: unknown) => error);
    expect(duplicate).toBeInstanceOf(Error);
    expect(isStorageUnavailable(duplicate)).toBe(false);
    expect(isStorageUnavailable(new TypeError("x is undefined"))).toBe(false);
  });

  test.skipIf(testEngine() !== "postgres")(
    "PostgreSQL (this runs in the PostgreSQL pass): a terminated connection is unavailability, and the pool heals",
    async () => {
      const place = freshPlace();
      const storage = new PostgresStorage(placeUrl(place as DatabasePlace & { engine: "postgres" }), { poolSize: 1 });
      opened.push({ place, storage });
      await storage.migrate(1);
      const marker = `pg_sleep(5.${Date.now() % 1000})`;
      const inFlight = rawQuery(storage, `SELECT ${marker}`).catch((error: unknown) => error);
      const url = place.engine === "postgres" ? place.url : "";
      await withAdmin(url, async (admin) => {
        for (let attempt = 0; attempt < 200; attempt++) {
          const { rowCount } = await admin.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()",
            [`SELECT ${marker}%`],
          );
          if (rowCount) return;
          await Bun.sleep(10);
        }
      });
      expect(isStorageUnavailable(await inFlight)).toBe(true);
      expect((await storage.appliedMigrations()).length).toBeGreaterThan(0);
    },
  );
});
