// drizzle-kit writes PostgreSQL migrations here from src/db/schema.pg.ts; they are generated, never edited by hand.
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./src/db/schema.pg.ts",
  out: "./drizzle/pg",
});
