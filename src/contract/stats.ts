import { z } from "zod";
import { projectId } from "./common";

export const UsageQuery = z.object({ project_id: projectId });
