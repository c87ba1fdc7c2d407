CREATE TABLE `api_hourly` (
	`scope` text NOT NULL,
	`hour` integer NOT NULL,
	`route` text NOT NULL,
	`status_class` text NOT NULL,
	`count` integer NOT NULL,
	`hist` text NOT NULL,
	PRIMARY KEY(`scope`, `hour`, `route`, `status_class`)
);
