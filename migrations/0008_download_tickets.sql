CREATE TABLE `download_tickets` (
	`hash` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`key_id` text NOT NULL,
	`href` text NOT NULL,
	`expires_at` integer NOT NULL,
	`used_at` integer
);
--> statement-breakpoint
CREATE INDEX `download_tickets_expires_idx` ON `download_tickets` (`expires_at`);