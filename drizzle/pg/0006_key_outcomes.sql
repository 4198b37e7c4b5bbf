CREATE TABLE "key_outcomes" (
	"key_id" text COLLATE "C" NOT NULL,
	"hour_start_ms" bigint NOT NULL,
	"outcome" text NOT NULL,
	"count" bigint NOT NULL,
	CONSTRAINT "key_outcomes_key_id_hour_start_ms_outcome_pk" PRIMARY KEY("key_id","hour_start_ms","outcome")
);
--> statement-breakpoint
CREATE INDEX "key_outcomes_hour" ON "key_outcomes" USING btree ("hour_start_ms");