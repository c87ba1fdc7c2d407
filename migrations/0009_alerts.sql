CREATE TABLE `alert_deliveries` (
	`id` text PRIMARY KEY NOT NULL,
	`rule_id` text NOT NULL,
	`alert_id` text NOT NULL,
	`target_id` text NOT NULL,
	`state_change` text NOT NULL,
	`attempt` integer NOT NULL,
	`at` integer NOT NULL,
	`status` integer,
	`error` text
);
--> statement-breakpoint
CREATE INDEX `alert_deliveries_rule_idx` ON `alert_deliveries` (`rule_id`,`id`);--> statement-breakpoint
CREATE TABLE `alert_rules` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`project_id` text NOT NULL,
	`name` text NOT NULL,
	`kind` text NOT NULL,
	`params` text NOT NULL,
	`device_id` text,
	`device_type` text,
	`min_firing_s` integer NOT NULL,
	`silenced_until` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `alert_rules_project_idx` ON `alert_rules` (`project_id`,`id`);--> statement-breakpoint
CREATE TABLE `alert_targets` (
	`id` text PRIMARY KEY NOT NULL,
	`rule_id` text NOT NULL,
	`url` text NOT NULL,
	`format` text NOT NULL,
	`secret` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `alert_targets_rule_idx` ON `alert_targets` (`rule_id`);--> statement-breakpoint
CREATE TABLE `alerts` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`project_id` text NOT NULL,
	`rule_id` text NOT NULL,
	`device_id` text,
	`state` text NOT NULL,
	`started_at` integer NOT NULL,
	`resolved_at` integer,
	`summary` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `alerts_project_idx` ON `alerts` (`project_id`,`id`);