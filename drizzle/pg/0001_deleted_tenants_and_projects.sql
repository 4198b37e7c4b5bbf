ALTER TABLE "projects" ADD COLUMN "deleted_at_ms" bigint;--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "deleted_at_ms" bigint;