/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` proxies /api to a running suite (`make up`): VITE_GATEWAY overrides the URL.
export default defineConfig({
  plugins: [react()],
  server: { proxy: { "/api": process.env.VITE_GATEWAY ?? "http://127.0.0.1:8180" } },
  build: { outDir: "dist", sourcemap: false, chunkSizeWarningLimit: 1500 },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["src/test/setup.ts"],
    include: ["src/**/*.test.tsx", "src/**/*.test.ts"],
    // Bounds, not timing goals: a shared 2-core machine under load runs these slowly.
    testTimeout: 60_000,
  },
});
