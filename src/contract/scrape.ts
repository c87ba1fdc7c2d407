// GET /api/v1/metrics: a project's devices and counters for a Prometheus scrape. The device
// filters of GET /fleet/devices narrow a large fleet into several scrapes.
import { z } from "zod";
import { environment, label, projectId } from "./common";

export const ScrapeQuery = z.object({
  project_id: projectId,
  environment: environment.optional(),
  type: label.optional(),
});

/** The most devices one scrape reads (in pages of SCRAPE_PAGE); past it the answer says it was cut short. */
export const SCRAPE_MAX_DEVICES = 10_000;
export const SCRAPE_PAGE = 500;
