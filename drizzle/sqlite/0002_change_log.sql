CREATE TABLE `changes` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`entity` text NOT NULL,
	`entity_id` text NOT NULL,
	`changed_at_ms` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `api_keys` ADD `usage_count` integer DEFAULT 0 NOT NULL;