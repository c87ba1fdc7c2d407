-- Environments are now `production`, `testing` or `development` (docs/api.md). Stored rows are
-- read the way the API now reads input: case and surrounding spaces ignored, `prod`, `test` and
-- `dev` stored as the full name. Any other value (free text from before, e.g. "staging") becomes
-- `production`, so every row fits the enum the list filter and the dashboard's tabs use; an
-- admin moves a device with `PATCH /fleet/devices/:id {"environment": ...}`. See README, "Environments".
UPDATE `devices` SET `environment` = CASE lower(trim(`environment`))
	WHEN 'testing' THEN 'testing'
	WHEN 'test' THEN 'testing'
	WHEN 'development' THEN 'development'
	WHEN 'dev' THEN 'development'
	ELSE 'production'
END
WHERE `environment` NOT IN ('production', 'testing', 'development');--> statement-breakpoint
UPDATE `registration_tokens` SET `environment` = CASE lower(trim(`environment`))
	WHEN 'testing' THEN 'testing'
	WHEN 'test' THEN 'testing'
	WHEN 'development' THEN 'development'
	WHEN 'dev' THEN 'development'
	ELSE 'production'
END
WHERE `environment` NOT IN ('production', 'testing', 'development');
