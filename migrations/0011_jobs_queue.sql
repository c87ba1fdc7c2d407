DROP TABLE `api_hourly`;--> statement-breakpoint
DROP TABLE `job_cursors`;--> statement-breakpoint
CREATE INDEX `alert_deliveries_alert_idx` ON `alert_deliveries` (`alert_id`);