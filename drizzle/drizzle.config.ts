// drizzle-kit writes migrations here from src/db/schema.ts; they are generated, never edited by hand.
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/schema.ts",
  out: "./drizzle",
});
