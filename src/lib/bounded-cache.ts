/**
 * A least-recently-used cache of at most `entries` entries (lru-cache), whose memory grows with what it holds.
 *
 * Given `max`, lru-cache sets aside every slot when it is built (`Array.from({ length: max })`, twice, and two
 * index arrays): the server's caches (25,000 keys three times, 10,000 projects, tenants and tokens, 50,000 buckets)
 * cost ~18 ms of every start that way, before the first request. Counting every entry as size 1 against `maxSize`
 * bounds the cache the same way (the least recently used entry is evicted, with reason "evict", to make room) and
 * allocates as entries arrive.
 */
import { LRUCache } from "lru-cache";

type CacheOptions<Key extends {}, Value extends {}> = Omit<
  LRUCache.Options<Key, Value, unknown>,
  "max" | "maxSize" | "sizeCalculation"
>;

export function boundedCache<Key extends {}, Value extends {}>(
  entries: number,
  options: CacheOptions<Key, Value> = {},
): LRUCache<Key, Value> {
  return new LRUCache<Key, Value>({ ...options, maxSize: entries, sizeCalculation: () => 1 });
}
