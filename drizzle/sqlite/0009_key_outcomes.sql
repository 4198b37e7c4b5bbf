CREATE TABLE `key_outcomes` (
	`key_id` text NOT NULL,
	`hour_start_ms` integer NOT NULL,
	`outcome` text NOT NULL,
	`count` integer NOT NULL,
	PRIMARY KEY(`key_id`, `hour_start_ms`, `outcome`)
);
--> statement-breakpoint
CREATE INDEX `key_outcomes_hour` ON `key_outcomes` (`hour_start_ms`);