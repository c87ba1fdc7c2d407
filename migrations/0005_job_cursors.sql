CREATE TABLE `job_cursors` (
	`job` text PRIMARY KEY NOT NULL,
	`after_id` text
);
