CREATE TABLE `project_statuses` (
	`project_id` text PRIMARY KEY NOT NULL,
	`statuses` text NOT NULL,
	`written_at` integer NOT NULL
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `project_statuses` (`project_id`, `statuses`, `written_at`)
SELECT `project_id`, json_group_object(`id`, json_array(`status`, `status_changed_at`)), 0 FROM `devices`
WHERE `presence_version` > 0 AND `decommissioned_at` IS NULL GROUP BY `project_id`;
