CREATE TABLE `cli_sessions` (
	`id_hash` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`status` text NOT NULL,
	`user_code` text NOT NULL,
	`device_name` text,
	`callback_url` text,
	`code_challenge` text,
	`requested_scopes` text,
	`requester_ip` text,
	`requester_user_agent` text,
	`sealing_public_key` text NOT NULL,
	`poll_interval_seconds` integer NOT NULL,
	`last_polled_at_ms` integer,
	`created_at_ms` integer NOT NULL,
	`expires_at_ms` integer NOT NULL,
	`decided_at_ms` integer,
	`approved_by` text,
	`key_id` text,
	`sealed_key` text,
	`first_delivered_at_ms` integer,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `cli_sessions_pending_user_code` ON `cli_sessions` (`user_code`) WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX `cli_sessions_status` ON `cli_sessions` (`status`,`expires_at_ms`);--> statement-breakpoint
ALTER TABLE `projects` ADD `cli_session_ttl_seconds` integer DEFAULT 600 NOT NULL;--> statement-breakpoint
ALTER TABLE `projects` ADD `cli_key_ttl_seconds` integer DEFAULT 7776000 NOT NULL;--> statement-breakpoint
ALTER TABLE `projects` ADD `cli_poll_interval_seconds` integer DEFAULT 5 NOT NULL;--> statement-breakpoint
ALTER TABLE `projects` ADD `cli_default_scopes` text;--> statement-breakpoint
ALTER TABLE `projects` ADD `cli_loopback_http` integer DEFAULT true NOT NULL;