// drizzle-kit writes SQLite migrations here from src/db/schema.sqlite.ts; they are generated, never edited by hand.
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/schema.sqlite.ts",
  out: "./drizzle/sqlite",
});
