CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`name` text NOT NULL,
	`role` text NOT NULL,
	`key_hash` text NOT NULL,
	`prefix` text NOT NULL,
	`created_at` integer NOT NULL,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_hash_idx` ON `api_keys` (`key_hash`);--> statement-breakpoint
CREATE INDEX `api_keys_org_idx` ON `api_keys` (`org_id`,`id`);--> statement-breakpoint
CREATE TABLE `devices` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`project_id` text NOT NULL,
	`dsn` text NOT NULL,
	`name` text NOT NULL,
	`device_type` text NOT NULL,
	`environment` text NOT NULL,
	`status` text NOT NULL,
	`device_info` text,
	`metrics` text,
	`current_session_id` text,
	`heartbeat_interval_ms` integer NOT NULL,
	`registered_at` integer NOT NULL,
	`last_seen_at` integer,
	`last_heartbeat_at` integer,
	`decommissioned_at` integer,
	`presence_version` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `devices_project_dsn_idx` ON `devices` (`project_id`,`dsn`);--> statement-breakpoint
CREATE INDEX `devices_org_idx` ON `devices` (`org_id`,`id`);--> statement-breakpoint
CREATE INDEX `devices_project_status_idx` ON `devices` (`project_id`,`status`,`id`);--> statement-breakpoint
CREATE TABLE `orgs` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`tier` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `projects` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`name` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `projects_org_idx` ON `projects` (`org_id`,`id`);--> statement-breakpoint
CREATE TABLE `registration_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`project_id` text NOT NULL,
	`token_hash` text NOT NULL,
	`device_type` text NOT NULL,
	`environment` text NOT NULL,
	`name` text,
	`dsn` text,
	`expires_at` integer NOT NULL,
	`used_at` integer,
	`device_id` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `registration_tokens_hash_idx` ON `registration_tokens` (`token_hash`);--> statement-breakpoint
CREATE INDEX `registration_tokens_expiry_idx` ON `registration_tokens` (`expires_at`);