// The dashboard's build: Preact through Vite into web/dist, which wrangler serves as the
// Worker's static assets (wrangler.toml [assets]). `npm run build:web` prints each file's
// size, gzipped too.
import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

export default defineConfig({
  root: import.meta.dirname,
  plugins: [preact()],
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", reportCompressedSize: true },
});
