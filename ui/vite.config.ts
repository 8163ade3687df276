import { defineConfig } from "vite";

// Built into ui/dist and embedded in the app binary (tauri.conf.json frontendDist).
export default defineConfig({
  clearScreen: false,
  server: { port: 1420, strictPort: true },
  build: { target: "es2021", outDir: "dist", emptyOutDir: true, sourcemap: false },
});
