CREATE TABLE `log_shards` (
	`project_id` text NOT NULL,
	`shard` integer NOT NULL,
	PRIMARY KEY(`project_id`, `shard`)
);
