// The onboarding page, registered with the console through the SDK's host API.
import { definePlugin } from "@ops-center/plugin-sdk";

export default definePlugin((host) => {
  host.registerPage({
    path: "/onboarding",
    title: "Getting started",
    render: async (root: HTMLElement) => {
      const steps = (await host.config<{ steps?: string[] }>()).steps ?? [];
      root.innerHTML = `<h1>Getting started</h1><ol>${steps
        .map((s) => `<li>${s}</li>`)
        .join("")}</ol>`;
    },
  });
});
