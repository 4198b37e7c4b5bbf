ALTER TABLE "api_keys" ADD COLUMN "parent_key_id" text COLLATE "C";--> statement-breakpoint
CREATE INDEX "api_keys_parent" ON "api_keys" USING btree ("parent_key_id");