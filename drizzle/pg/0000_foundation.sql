CREATE TABLE "api_keys" (
	"id" text COLLATE "C" PRIMARY KEY NOT NULL,
	"project_id" text COLLATE "C" NOT NULL,
	"name" text NOT NULL,
	"scopes" json NOT NULL,
	"owner" text COLLATE "C",
	"is_root" boolean DEFAULT false NOT NULL,
	"hint" text NOT NULL,
	"expires_at_ms" bigint,
	"revoked_at_ms" bigint,
	"ratelimit_limit" integer,
	"ratelimit_window_seconds" integer,
	"last_used_at_ms" bigint,
	"usage_count" bigint DEFAULT 0 NOT NULL,
	"created_at_ms" bigint NOT NULL,
	"updated_at_ms" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audit_events" (
	"id" text COLLATE "C" PRIMARY KEY NOT NULL,
	"occurred_at_ms" bigint NOT NULL,
	"action" text COLLATE "C" NOT NULL,
	"actor_type" text COLLATE "C" NOT NULL,
	"actor_id" text COLLATE "C",
	"tenant_id" text COLLATE "C",
	"project_id" text COLLATE "C",
	"target_type" text COLLATE "C" NOT NULL,
	"target_id" text COLLATE "C" NOT NULL,
	"ip" text,
	"user_agent" text,
	"request_id" text,
	"details" json NOT NULL
);
--> statement-breakpoint
CREATE TABLE "changes" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"entity" text COLLATE "C" NOT NULL,
	"entity_id" text COLLATE "C" NOT NULL,
	"changed_at_ms" bigint NOT NULL,
	"xid" "xid8" DEFAULT pg_current_xact_id() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "cli_sessions" (
	"id_hash" text COLLATE "C" PRIMARY KEY NOT NULL,
	"project_id" text COLLATE "C" NOT NULL,
	"status" text COLLATE "C" NOT NULL,
	"user_code" text COLLATE "C" NOT NULL,
	"device_name" text,
	"callback_url" text,
	"code_challenge" text COLLATE "C",
	"requested_scopes" json,
	"requester_ip" text,
	"requester_user_agent" text,
	"sealing_public_key" text NOT NULL,
	"poll_interval_seconds" integer NOT NULL,
	"last_polled_at_ms" bigint,
	"created_at_ms" bigint NOT NULL,
	"expires_at_ms" bigint NOT NULL,
	"decided_at_ms" bigint,
	"approved_by" text,
	"key_id" text COLLATE "C",
	"sealed_key" text,
	"first_delivered_at_ms" bigint
);
--> statement-breakpoint
CREATE TABLE "key_secrets" (
	"hash" text COLLATE "C" PRIMARY KEY NOT NULL,
	"key_id" text COLLATE "C" NOT NULL,
	"created_at_ms" bigint NOT NULL,
	"retires_at_ms" bigint
);
--> statement-breakpoint
CREATE TABLE "projects" (
	"id" text COLLATE "C" PRIMARY KEY NOT NULL,
	"tenant_id" text COLLATE "C" NOT NULL,
	"name" text NOT NULL,
	"is_default" boolean DEFAULT false NOT NULL,
	"key_prefix" text COLLATE "C" NOT NULL,
	"allowed_origins" json NOT NULL,
	"verification_url" text,
	"callback_hosts" json,
	"ratelimit_limit" integer NOT NULL,
	"ratelimit_window_seconds" integer NOT NULL,
	"session_ttl_seconds" integer NOT NULL,
	"cli_session_ttl_seconds" integer DEFAULT 600 NOT NULL,
	"cli_key_ttl_seconds" integer DEFAULT 7776000 NOT NULL,
	"cli_poll_interval_seconds" integer DEFAULT 5 NOT NULL,
	"cli_default_scopes" json,
	"cli_loopback_http" boolean DEFAULT true NOT NULL,
	"created_at_ms" bigint NOT NULL,
	"updated_at_ms" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "signing_keys" (
	"kid" text COLLATE "C" PRIMARY KEY NOT NULL,
	"algorithm" text NOT NULL,
	"public_jwk" json NOT NULL,
	"private_key" text NOT NULL,
	"created_at_ms" bigint NOT NULL,
	"activates_at_ms" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tenants" (
	"id" text COLLATE "C" PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"status" text COLLATE "C" NOT NULL,
	"subscription" text COLLATE "C" NOT NULL,
	"modules" json NOT NULL,
	"is_default" boolean DEFAULT false NOT NULL,
	"created_at_ms" bigint NOT NULL,
	"updated_at_ms" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "cli_sessions" ADD CONSTRAINT "cli_sessions_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "key_secrets" ADD CONSTRAINT "key_secrets_key_id_api_keys_id_fk" FOREIGN KEY ("key_id") REFERENCES "public"."api_keys"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "projects" ADD CONSTRAINT "projects_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "api_keys_project" ON "api_keys" USING btree ("project_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "api_keys_single_root" ON "api_keys" USING btree ("is_root") WHERE is_root;--> statement-breakpoint
CREATE INDEX "audit_events_tenant" ON "audit_events" USING btree ("tenant_id","id");--> statement-breakpoint
CREATE INDEX "changes_xid" ON "changes" USING btree ("xid");--> statement-breakpoint
CREATE UNIQUE INDEX "cli_sessions_pending_user_code" ON "cli_sessions" USING btree ("user_code") WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX "cli_sessions_status" ON "cli_sessions" USING btree ("status","expires_at_ms");--> statement-breakpoint
CREATE INDEX "key_secrets_key" ON "key_secrets" USING btree ("key_id");--> statement-breakpoint
CREATE INDEX "projects_tenant" ON "projects" USING btree ("tenant_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "projects_single_default" ON "projects" USING btree ("is_default") WHERE is_default;--> statement-breakpoint
CREATE INDEX "signing_keys_activation" ON "signing_keys" USING btree ("activates_at_ms");--> statement-breakpoint
CREATE UNIQUE INDEX "tenants_single_default" ON "tenants" USING btree ("is_default") WHERE is_default;