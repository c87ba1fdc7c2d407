import { z } from "zod";
import { cursor, keyId, limit, name, orgId, projectId, role, tier } from "./common";
import { email } from "./people";

/** `owner_email`: the person who signs in with it becomes the org's owner. */
export const CreateOrg = z.object({ name, tier: tier.default("free"), owner_email: email.optional() });
export const UpdateOrg = z
  .object({ name: name.optional(), tier: tier.optional() })
  .refine((v) => v.name !== undefined || v.tier !== undefined, "send name or tier");
export const OrgParams = z.object({ org_id: orgId });

export const CreateProject = z.object({ name });
export const ProjectParams = z.object({ project_id: projectId });
export const ListProjects = z.object({ limit: limit(200, 100), cursor });

export const CreateKey = z.object({ role, name: name.default("unnamed key") });
export const KeyParams = z.object({ id: keyId });
