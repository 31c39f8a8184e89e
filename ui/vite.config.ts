import { defineConfig } from "vite";

// The webview loads ui/dist through Tauri's custom protocol; paths stay relative.
export default defineConfig({
  base: "./",
  clearScreen: false,
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
});
