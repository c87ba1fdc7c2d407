// The dashboard's build: Preact through Vite into web/dist, which wrangler serves as the
// Worker's static assets (wrangler.toml [assets]). Two pages: the dashboard (index.html) and
// the API reference (docs.html, which the assets serve at /docs). `npm run build:web` prints
// each file's size, gzipped too.
import path from "node:path";
import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

export default defineConfig({
  root: import.meta.dirname,
  plugins: [preact()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    reportCompressedSize: true,
    rolldownOptions: {
      input: {
        dashboard: path.join(import.meta.dirname, "index.html"),
        docs: path.join(import.meta.dirname, "docs.html"),
      },
    },
  },
});
