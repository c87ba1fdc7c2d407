// The API reference page (/docs): reads the API's own description and renders it. No key is
// needed: /api/v1/openapi.json is public.
import { render } from "preact";
import { type OpenApiDocument, Reference } from "./reference";

const root = document.getElementById("docs")!;

async function load(): Promise<void> {
  try {
    const res = await fetch("/api/v1/openapi.json");
    if (!res.ok) throw new Error(`GET /api/v1/openapi.json answered ${res.status}`);
    const doc = (await res.json()) as OpenApiDocument;
    root.textContent = "";
    render(<Reference doc={doc} />, root);
    // A link to an operation (/docs#get--fleet-devices) lands on it once it is drawn.
    if (location.hash) document.getElementById(decodeURIComponent(location.hash.slice(1)))?.scrollIntoView();
  } catch (err) {
    root.textContent = "";
    render(
      <p class="error">The API reference could not be loaded: {err instanceof Error ? err.message : String(err)}</p>,
      root,
    );
  }
}

void load();
