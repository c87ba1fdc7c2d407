CREATE TABLE `upload_parts` (
	`upload_id` text NOT NULL,
	`part_number` integer NOT NULL,
	`size` integer NOT NULL,
	PRIMARY KEY(`upload_id`, `part_number`)
);
--> statement-breakpoint
DROP INDEX `uploads_created_idx`;--> statement-breakpoint
ALTER TABLE `uploads` ADD `active_at` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `uploads_active_idx` ON `uploads` (`active_at`);--> statement-breakpoint
CREATE INDEX `uploads_device_idx` ON `uploads` (`device_id`);--> statement-breakpoint
CREATE INDEX `uploads_project_idx` ON `uploads` (`project_id`);--> statement-breakpoint
-- Uploads open before this migration count as active since they started.
UPDATE `uploads` SET `active_at` = `created_at`;