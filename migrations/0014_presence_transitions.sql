-- Status transitions reach D1 batched per project by its ProjectHub, each with the moment it happened.
ALTER TABLE `devices` ADD `status_changed_at` integer;