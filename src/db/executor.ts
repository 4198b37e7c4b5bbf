/**
 * What a store function runs its queries on: the database itself or an open transaction. Services open the
 * transaction (so a change and its audit event commit together); stores never decide transaction boundaries.
 */
import type { BaseSQLiteDatabase } from "drizzle-orm/sqlite-core";
import type * as schema from "./schema.ts";

export type Executor = BaseSQLiteDatabase<"sync", unknown, typeof schema>;
