CREATE TABLE `sessions` (
	`project_id` text NOT NULL,
	`session_id` text NOT NULL,
	`org_id` text NOT NULL,
	`device_id` text NOT NULL,
	`name` text NOT NULL,
	`status` text NOT NULL,
	`started_at` integer NOT NULL,
	`completed_at` integer,
	`total_logs` integer DEFAULT 0 NOT NULL,
	`error_count` integer DEFAULT 0 NOT NULL,
	`warning_count` integer DEFAULT 0 NOT NULL,
	`version` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`project_id`, `session_id`)
);
--> statement-breakpoint
CREATE INDEX `sessions_project_started_idx` ON `sessions` (`project_id`,`started_at`);--> statement-breakpoint
CREATE INDEX `sessions_device_started_idx` ON `sessions` (`device_id`,`started_at`);--> statement-breakpoint
CREATE INDEX `sessions_org_idx` ON `sessions` (`org_id`,`session_id`);--> statement-breakpoint
ALTER TABLE `devices` ADD `last_log_at` integer;