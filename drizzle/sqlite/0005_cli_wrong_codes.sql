CREATE TABLE `cli_wrong_codes` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`project_id` text NOT NULL,
	`key_id` text NOT NULL,
	`ip` text,
	`at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `cli_wrong_codes_project` ON `cli_wrong_codes` (`project_id`,`at_ms`);--> statement-breakpoint
CREATE INDEX `cli_wrong_codes_key` ON `cli_wrong_codes` (`key_id`,`at_ms`);--> statement-breakpoint
CREATE INDEX `cli_wrong_codes_ip` ON `cli_wrong_codes` (`ip`,`at_ms`);