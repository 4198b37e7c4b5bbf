ALTER TABLE `projects` ADD `deleted_at_ms` integer;--> statement-breakpoint
ALTER TABLE `tenants` ADD `deleted_at_ms` integer;