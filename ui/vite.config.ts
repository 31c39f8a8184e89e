import { defineConfig } from "vite";

// The webview loads ui/dist through Tauri's custom protocol; paths stay relative.
// Screens are Preact components in .tsx files; esbuild compiles their JSX to
// preact/jsx-runtime calls, so no framework plugin is needed.
export default defineConfig({
  base: "./",
  clearScreen: false,
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
});
