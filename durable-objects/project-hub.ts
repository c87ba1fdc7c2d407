// ProjectHub: one Durable Object per project. It will hold the project's exact usage
// counters and its live-tail viewers (the logs issue). The class exists now so the binding
// and its SQLite migration are in place from the first deploy.
import { DurableObject } from "cloudflare:workers";

export class ProjectHub extends DurableObject<Env> {}
