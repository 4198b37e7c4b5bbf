CREATE TABLE `signing_keys` (
	`kid` text PRIMARY KEY NOT NULL,
	`algorithm` text NOT NULL,
	`public_jwk` text NOT NULL,
	`private_key` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`activates_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `signing_keys_activation` ON `signing_keys` (`activates_at_ms`);