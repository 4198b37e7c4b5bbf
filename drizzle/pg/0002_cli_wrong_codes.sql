CREATE TABLE "cli_wrong_codes" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"project_id" text COLLATE "C" NOT NULL,
	"key_id" text COLLATE "C" NOT NULL,
	"ip" text COLLATE "C",
	"at_ms" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX "cli_wrong_codes_project" ON "cli_wrong_codes" USING btree ("project_id","at_ms");--> statement-breakpoint
CREATE INDEX "cli_wrong_codes_key" ON "cli_wrong_codes" USING btree ("key_id","at_ms");--> statement-breakpoint
CREATE INDEX "cli_wrong_codes_ip" ON "cli_wrong_codes" USING btree ("ip","at_ms");