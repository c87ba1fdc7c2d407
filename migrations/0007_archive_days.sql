CREATE TABLE `archive_days` (
	`project_id` text NOT NULL,
	`day` text NOT NULL,
	`device_id` text NOT NULL,
	PRIMARY KEY(`project_id`, `day`, `device_id`)
);
