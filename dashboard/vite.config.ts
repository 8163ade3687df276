import { defineConfig } from "vite";

// The hub embeds dist/ (crates/hub/build.rs) and serves it at `/` and `/assets/*`.
export default defineConfig({
  base: "/",
  build: { outDir: "dist", assetsDir: "assets", emptyOutDir: true, sourcemap: false, target: "es2020" },
  server: { proxy: { "/v1": "http://127.0.0.1:7700", "/ws": { target: "ws://127.0.0.1:7700", ws: true } } },
});
