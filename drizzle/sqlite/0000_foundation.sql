CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`name` text NOT NULL,
	`scopes` text NOT NULL,
	`owner` text,
	`is_root` integer DEFAULT false NOT NULL,
	`hint` text NOT NULL,
	`expires_at_ms` integer,
	`revoked_at_ms` integer,
	`ratelimit_limit` integer,
	`ratelimit_window_seconds` integer,
	`last_used_at_ms` integer,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `api_keys_project` ON `api_keys` (`project_id`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_single_root` ON `api_keys` (`is_root`) WHERE is_root = 1;--> statement-breakpoint
CREATE TABLE `audit_events` (
	`id` text PRIMARY KEY NOT NULL,
	`occurred_at_ms` integer NOT NULL,
	`action` text NOT NULL,
	`actor_type` text NOT NULL,
	`actor_id` text,
	`tenant_id` text,
	`project_id` text,
	`target_type` text NOT NULL,
	`target_id` text NOT NULL,
	`ip` text,
	`user_agent` text,
	`request_id` text,
	`details` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `audit_events_tenant` ON `audit_events` (`tenant_id`,`id`);--> statement-breakpoint
CREATE TABLE `key_secrets` (
	`hash` text PRIMARY KEY NOT NULL,
	`key_id` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`retires_at_ms` integer,
	FOREIGN KEY (`key_id`) REFERENCES `api_keys`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `key_secrets_key` ON `key_secrets` (`key_id`);--> statement-breakpoint
CREATE TABLE `projects` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`name` text NOT NULL,
	`is_default` integer DEFAULT false NOT NULL,
	`key_prefix` text NOT NULL,
	`allowed_origins` text NOT NULL,
	`verification_url` text,
	`callback_hosts` text,
	`ratelimit_limit` integer NOT NULL,
	`ratelimit_window_seconds` integer NOT NULL,
	`session_ttl_seconds` integer NOT NULL,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `projects_tenant` ON `projects` (`tenant_id`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `projects_single_default` ON `projects` (`is_default`) WHERE is_default = 1;--> statement-breakpoint
CREATE TABLE `tenants` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`status` text NOT NULL,
	`subscription` text NOT NULL,
	`modules` text NOT NULL,
	`is_default` integer DEFAULT false NOT NULL,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tenants_single_default` ON `tenants` (`is_default`) WHERE is_default = 1;