// Type-level test, compiled by `npm run typecheck` (tsc) and never run: it calls real paths with
// real fields, so an API change that renames or removes one of them makes tsc fail. Each
// `@ts-expect-error` line is a call the types must refuse; tsc fails if one is accepted.
import { createApiClient } from "../../src/client.js";

const api = createApiClient({ baseUrl: "http://localhost:8080", token: "t" });

export async function installedPluginStates(): Promise<string[]> {
  const page = await api.get("/api/v1/plugins/installed");
  const cursor: string | null | undefined = page.next_cursor;
  void cursor;
  return page.items.map((installation) => `${installation.plugin}@${installation.version}: ${installation.state}`);
}

export async function installWithConsent(): Promise<void> {
  await api.post("/api/v1/plugins/install", {
    body: { plugin: "login-audit", accept_permissions: ["api:users:read"], config: {}, dry_run: true },
  });
  // @ts-expect-error not a permission the platform knows
  await api.post("/api/v1/plugins/install", { body: { plugin: "x", accept_permissions: ["api:root"] } });
  // @ts-expect-error the body is required
  await api.post("/api/v1/plugins/install");
}

export async function installationHistory(slug: string): Promise<string[]> {
  const installation = await api.get("/api/v1/plugins/{plugin}/installation", { params: { path: { plugin: slug } } });
  // @ts-expect-error the path parameter is named plugin, not id
  await api.get("/api/v1/plugins/{plugin}/installation", { params: { path: { id: slug } } });
  return installation.granted_permissions;
}

export async function marketplace(): Promise<void> {
  const page = await api.get("/api/v1/plugins/marketplace", { params: { query: { q: "audit", sort: "popular" } } });
  for (const item of page.items) void item.slug;
  // @ts-expect-error no such path
  await api.get("/api/v1/plugins/nowhere");
  // @ts-expect-error the marketplace is read-only
  await api.post("/api/v1/plugins/marketplace");
}

export async function retryRegisterWithSameKey(key: string): Promise<string> {
  const plugin = await api.post("/api/v1/plugins/register", {
    params: { header: { "Idempotency-Key": key } },
    body: { slug: "login-audit", name: "Login audit", category: "security", type: "backend" },
  });
  return plugin.slug;
}
