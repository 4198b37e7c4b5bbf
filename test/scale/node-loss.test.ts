/**
 * Node loss: `kill -9` of a node in the middle of writes loses nothing it acknowledged, the other nodes keep
 * answering, and the node restarts and serves, with what changed while it was gone.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { useBuiltBinary } from "../support/binary.ts";
import { Cluster, SCALE_ENABLED, SCALE_NOTE } from "./cluster.ts";

const built = useBuiltBinary("scale-node-loss");
const VICTIM = 1;

describe.skipIf(!SCALE_ENABLED)(`node loss ${SCALE_NOTE}`, () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await Cluster.start(built.path);
  }, 60_000);
  afterAll(() => cluster?.close(), 30_000);

  test("kill -9 mid-write: acknowledged keys survive, the others answer throughout, the node comes back", async () => {
    const cachedThere = await cluster.createKey(0);
    expect(await cluster.verifyCode(VICTIM, cachedThere.secret)).toBe("VALID");
    const steady = await cluster.createKey(0);

    const acknowledged: { id: string; secret: string }[] = [];
    let writing = true;
    const writers = Array.from({ length: 4 }, async () => {
      while (writing) {
        try {
          const created = await cluster.call(VICTIM, "POST", "/v1/keys", {
            key: cluster.rootKey,
            body: { name: "acked", scopes: ["runs:read"] },
          });
          if (created.status === 200) acknowledged.push({ id: created.body.id, secret: created.body.secret });
        } catch {
          return; // the connection died with the node: not acknowledged
        }
      }
    });
    const othersAnswered = new Map<number, number>();
    let probing = true;
    const probes = [0, 2].map(async (index) => {
      while (probing) {
        const answer = await cluster.call(index, "POST", "/v1/keys/verify", { body: { key: steady.secret } });
        othersAnswered.set(answer.status, (othersAnswered.get(answer.status) ?? 0) + 1);
      }
    });
    await Bun.sleep(300);
    await cluster.nodes[VICTIM]!.kill9();
    writing = false;
    await Promise.all(writers);
    // While it is down: a revocation it must learn of when it is back.
    await cluster.call(0, "DELETE", `/v1/keys/${cachedThere.id}`, { key: cluster.rootKey });
    await Bun.sleep(200);
    probing = false;
    await Promise.all(probes);

    console.log(
      `node ${VICTIM} killed mid-write after ${acknowledged.length} acknowledged keys; the others answered ` +
        JSON.stringify(Object.fromEntries(othersAnswered)),
    );
    expect(acknowledged.length).toBeGreaterThan(0);
    expect([...othersAnswered.keys()]).toEqual([200]);
    const stored = new Set(
      (
        await cluster.query<{ id: string }>("SELECT id FROM api_keys WHERE id = ANY($1)", [
          acknowledged.map((k) => k.id),
        ])
      ).map((row) => row.id),
    );
    expect(acknowledged.filter((key) => !stored.has(key.id))).toEqual([]);

    await cluster.startNode(VICTIM);
    expect((await cluster.call(VICTIM, "GET", "/readyz")).status).toBe(200);
    expect(await cluster.verifyCode(VICTIM, cachedThere.secret)).toBe("API_KEY_REVOKED");
    for (const key of acknowledged.slice(-5)) expect(await cluster.verifyCode(VICTIM, key.secret)).toBe("VALID");
  }, 60_000);
});
