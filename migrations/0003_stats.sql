CREATE TABLE `daily_stats` (
	`project_id` text NOT NULL,
	`org_id` text NOT NULL,
	`date` text NOT NULL,
	`logs` integer NOT NULL,
	`log_bytes` integer NOT NULL,
	`sessions` integer NOT NULL,
	`heartbeats` integer NOT NULL,
	`device_messages_in` integer NOT NULL,
	`device_messages_out` integer NOT NULL,
	`api_calls` integer NOT NULL,
	`commands` integer NOT NULL,
	`artifact_bytes` integer NOT NULL,
	`error_lines` integer NOT NULL,
	`storage_bytes` integer NOT NULL,
	`devices` integer NOT NULL,
	`active_devices` integer NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`project_id`, `date`)
);
--> statement-breakpoint
CREATE INDEX `daily_stats_org_idx` ON `daily_stats` (`org_id`,`date`);--> statement-breakpoint
CREATE TABLE `monthly_stats` (
	`project_id` text NOT NULL,
	`org_id` text NOT NULL,
	`month` text NOT NULL,
	`logs` integer NOT NULL,
	`log_bytes` integer NOT NULL,
	`sessions` integer NOT NULL,
	`heartbeats` integer NOT NULL,
	`device_messages_in` integer NOT NULL,
	`device_messages_out` integer NOT NULL,
	`api_calls` integer NOT NULL,
	`commands` integer NOT NULL,
	`artifact_bytes` integer NOT NULL,
	`error_lines` integer NOT NULL,
	`peak_storage_bytes` integer NOT NULL,
	`tier` text NOT NULL,
	`exceeded_limits` text NOT NULL,
	`overage_cents` integer NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`project_id`, `month`)
);
--> statement-breakpoint
CREATE INDEX `monthly_stats_org_idx` ON `monthly_stats` (`org_id`,`month`);