/**
 * Re-sealing the signing keys under a new master key (src/domain/sessions/master-key.ts), on the run's engine: all of
 * them in one transaction or none, recorded in the audit trail, and no process still holding the previous key sealing a
 * new signing key under it.
 */
import { describe, expect, test } from "bun:test";
import { SYSTEM_ACTOR } from "../../src/domain/audit/service.ts";
import {
  deriveMasterKey,
  MasterKeyError,
  openPrivateKey,
  sealPrivateKey,
} from "../../src/domain/sessions/key-encryption.ts";
import { resealSigningKeys } from "../../src/domain/sessions/master-key.ts";
import { rotateSigningKey } from "../../src/domain/sessions/signing-keys.ts";
import { insertSigningKey, listSigningKeys } from "../../src/domain/sessions/store.ts";
import { createKey, mintSession } from "../support/keys.ts";
import { createWorld } from "../support/world.ts";

const OLD = "the previous master key of this world, 32+ characters";
const NEW = "the next master key of this world, 32+ characters too";

describe("re-sealing the signing keys under a new master key", () => {
  test("every key is sealed under the new one; tokens stay valid; the audit trail names each key", async () => {
    const world = await createWorld({ masterKeyText: OLD });
    try {
      await rotateSigningKey(
        world.storage,
        world.deps.sessions.ring,
        world.deps.sessions.masterKey,
        SYSTEM_ACTOR,
        0,
        world.clock.nowMilliseconds(),
      );
      const key = await createKey(world, { scopes: ["keys:read"] });
      // keys:read named: a token carries latchkey's own management scopes only when asked for.
      const token = await mintSession(world, key.secret, { scopes: ["keys:read"] });
      const next = await deriveMasterKey(NEW);
      expect(
        await resealSigningKeys(
          world.storage,
          world.deps.sessions.masterKey,
          next,
          SYSTEM_ACTOR,
          world.clock.nowMilliseconds(),
        ),
      ).toBe(2);
      for (const row of await listSigningKeys(world.storage.reader)) {
        expect(JSON.parse(await openPrivateKey(row.privateKey, next))).toMatchObject({ crv: "Ed25519" });
        await expect(openPrivateKey(row.privateKey, world.deps.sessions.masterKey)).rejects.toBeInstanceOf(
          MasterKeyError,
        );
      }
      expect((await world.call("GET", "/v1/keys", { headers: { "x-session-token": token } })).status).toBe(200);
      const audit = await world.call("GET", "/v1/audit?action=signing_key.resealed", { key: world.rootKey });
      expect(audit.body.data.length).toBe(2);
      expect(audit.body.data[0].details).toEqual({ previously_sealed: true });
    } finally {
      await world.close();
    }
  });

  test("a key the current master key cannot open stops the re-sealing before anything is written", async () => {
    const world = await createWorld({ masterKeyText: OLD });
    try {
      // A second key sealed under some other master key (a database assembled from two installations, say).
      const [first] = await listSigningKeys(world.storage.reader);
      const stranger = await sealPrivateKey(
        await openPrivateKey(first!.privateKey, world.deps.sessions.masterKey),
        await deriveMasterKey(NEW),
      );
      await world.storage.writeTransaction((tx) =>
        insertSigningKey(tx, {
          ...first!,
          kid: `${first!.kid}x`,
          privateKey: stranger,
          activatesAtMs: first!.activatesAtMs + 1,
        }),
      );
      const before = await listSigningKeys(world.storage.reader);
      const attempt = resealSigningKeys(
        world.storage,
        world.deps.sessions.masterKey,
        await deriveMasterKey(`${NEW} and more`),
        SYSTEM_ACTOR,
        world.clock.nowMilliseconds(),
      );
      await expect(attempt).rejects.toBeInstanceOf(MasterKeyError);
      expect(await listSigningKeys(world.storage.reader)).toEqual(before);
      const audit = await world.call("GET", "/v1/audit?action=signing_key.resealed", { key: world.rootKey });
      expect(audit.body.data).toEqual([]);
    } finally {
      await world.close();
    }
  });

  test("regression: a server running since before the rotation sealed new signing keys under the old key", async () => {
    const world = await createWorld({ masterKeyText: OLD });
    try {
      await resealSigningKeys(
        world.storage,
        world.deps.sessions.masterKey,
        await deriveMasterKey(NEW),
        SYSTEM_ACTOR,
        world.clock.nowMilliseconds(),
      );
      const before = await listSigningKeys(world.storage.reader);
      // What the world's server would do when its automatic rotation falls due: it still holds OLD.
      const stale = rotateSigningKey(
        world.storage,
        world.deps.sessions.ring,
        world.deps.sessions.masterKey,
        SYSTEM_ACTOR,
        0,
        world.clock.nowMilliseconds(),
      );
      await expect(stale).rejects.toThrow("restart it with the new key");
      expect(await listSigningKeys(world.storage.reader)).toEqual(before);
      // A process holding the new key rotates as usual.
      const renewed = await rotateSigningKey(
        world.storage,
        null,
        await deriveMasterKey(NEW),
        SYSTEM_ACTOR,
        0,
        world.clock.nowMilliseconds(),
      );
      expect(renewed).not.toBeNull();
    } finally {
      await world.close();
    }
  });
});
