// Reported by GET /api/v1/health; keep in step with package.json.
export const VERSION = "0.1.0";
