import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { PlanItem, PlanRead } from "../api/types";
import { fakeApi, renderWithApp } from "../test/render";
import { configErrorsByPlugin, InstallWizard } from "./InstallWizard";

function item(plugin: string, role: PlanItem["role"], permissions: string[], errors: PlanItem["config_errors"] = []): PlanItem {
  return {
    plugin,
    plugin_id: `id-${plugin}`,
    version: "1.2.0",
    role,
    permissions,
    pricing: { free: true },
    charge: { kind: role === "requested" ? "trial" : "free", detail: role === "requested" ? "9.00 EUR a month" : "Free", trial_days: role === "requested" ? 14 : null },
    config_errors: errors,
    signed: true,
    yanked: false,
  };
}

function plan(errors: PlanItem["config_errors"] = []): PlanRead {
  return {
    items: [item("lib", "dependency", ["storage:read"]), item("app", "requested", ["api:devices:read", "network:outbound"], errors)],
    kept: [],
    permissions: ["storage:read", "api:devices:read", "network:outbound"],
    missing_permissions: [],
    config_errors: errors,
    payment_required: [],
  };
}

const appDetail = {
  slug: "app",
  latest: { version: "1.2.0", config_schema: { type: "object", properties: { api_key: { type: "string", title: "API key", secret: true } } } },
};
const libDetail = { slug: "lib", latest: { version: "1.2.0", config_schema: null } };

function installation(state: string, history: string[], reason: string | null = null) {
  return { id: "i1", plugin: "app", plugin_id: "id-app", version: "1.2.0", state, reason, granted_permissions: [], config: {}, updated_at: "", history: history.map((to_state, i) => ({ sequence: i, to_state })) };
}

function suite(final: "enabled" | "failed") {
  let polls = 0;
  let checks = 0;
  const calls = fakeApi(({ method, path, body }) => {
    if (path === "/api/v1/plugins/marketplace/app") return { status: 200, body: appDetail };
    if (path === "/api/v1/plugins/marketplace/lib") return { status: 200, body: libDetail };
    if (method === "POST" && path === "/api/v1/plugins/install") {
      const b = body as { dry_run?: boolean; config?: { api_key?: string } };
      if (b.dry_run && !b.config) return { status: 200, body: { dry_run: true, plan: plan() } };
      if (b.dry_run) {
        checks += 1;
        const errors = b.config?.api_key ? [] : [{ field: "config.api_key", message: "is required" }];
        return { status: 200, body: { dry_run: true, plan: plan(errors) } };
      }
      return { status: 202, body: { installation: installation("installing", ["installing"]), plan: plan() } };
    }
    if (path === "/api/v1/plugins/app/installation") {
      polls += 1;
      if (polls < 2) return { status: 200, body: installation("installing", ["installing"]) };
      return final === "enabled"
        ? { status: 200, body: installation("enabled", ["installing", "installed", "enabled"]) }
        : { status: 200, body: installation("failed", ["installing", "failed"], "package digest mismatch") };
    }
    return { status: 404, body: { type: "about:blank", title: "Not found", status: 404, detail: `no ${path}` } };
  });
  return { calls, checks: () => checks };
}

describe("InstallWizard", () => {
  it("walks plan, consent, config and price to Enabled", async () => {
    const user = userEvent.setup();
    const { calls, checks } = suite("enabled");
    renderWithApp(<InstallWizard slug="app" pollMs={10} />);

    // Plan: the whole closure, dependency first.
    const rows = within(await screen.findByRole("table")).getAllByRole("row");
    expect(rows.map((r) => r.textContent)).toEqual([
      "PluginVersionWhySigned",
      "lib1.2.0Needed by another pluginSigned",
      "app1.2.0RequestedSigned",
    ]);
    await user.click(screen.getByRole("button", { name: "Continue to permissions" }));

    // Consent: every permission in plain words, grouped by plugin; continuing needs consent.
    expect(screen.getByRole("region", { name: "lib 1.2.0 (dependency)" })).toHaveTextContent("Read files in the plugin's storage");
    const app = screen.getByRole("region", { name: "app 1.2.0" });
    expect(app).toHaveTextContent("Read device data");
    expect(app).toHaveTextContent("Make outbound network (HTTP) requests");
    const next = screen.getByRole("button", { name: "Continue to configuration" });
    expect(next).toBeDisabled();
    await user.click(screen.getByLabelText("I grant these 3 permissions"));
    await user.click(next);

    // Config: only the plugin with a schema has a form; the server's error lands on its field.
    expect(screen.queryByRole("region", { name: "lib" })).not.toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Check configuration" }));
    const keyInput = await screen.findByLabelText(/API key/);
    await waitFor(() => expect(keyInput.closest(".form-group")).toHaveTextContent("is required"));
    expect(keyInput).toHaveAttribute("type", "password");
    await user.type(keyInput, "s3cret");
    await user.click(screen.getByRole("button", { name: "Check configuration" }));

    // Price and trial, then install with the consented permissions and the pinned plan.
    expect(await screen.findByText("9.00 EUR a month (14-day trial)")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Install app 1.2.0" }));
    expect(await screen.findByText("Enabled")).toBeInTheDocument();
    expect(screen.getByRole("list", { name: "States so far" })).toHaveTextContent("installinginstalledenabled");

    expect(checks()).toBe(2);
    const real = calls.find((c) => c.method === "POST" && !(c.body as { dry_run: boolean }).dry_run)!;
    expect(real.body).toMatchObject({
      plugin: "app",
      config: { api_key: "s3cret" },
      accept_permissions: ["storage:read", "api:devices:read", "network:outbound"],
      plan: [
        { plugin: "lib", version: "1.2.0" },
        { plugin: "app", version: "1.2.0" },
      ],
      enable: true,
    });
    expect(real.headers["Idempotency-Key"]).toBeTruthy();
  });

  it("shows a failed install with its reason", async () => {
    const user = userEvent.setup();
    suite("failed");
    renderWithApp(<InstallWizard slug="app" pollMs={10} />);
    await user.click(await screen.findByRole("button", { name: "Continue to permissions" }));
    await user.click(screen.getByLabelText("I grant these 3 permissions"));
    await user.click(screen.getByRole("button", { name: "Continue to configuration" }));
    await user.type(await screen.findByLabelText(/API key/), "k");
    await user.click(screen.getByRole("button", { name: "Check configuration" }));
    await user.click(await screen.findByRole("button", { name: "Install app 1.2.0" }));
    expect(await screen.findByText("Failed: package digest mismatch")).toBeInTheDocument();
  });

  it("gives each plugin's form the errors of its own config", () => {
    expect(
      configErrorsByPlugin("app", [
        { field: "config.api_key", message: "is required" },
        { field: "dependency_config.lib.region", message: "must be one of eu, us" },
        { field: "config", message: "must be an object" },
      ]),
    ).toEqual({
      app: [
        { field: "api_key", message: "is required" },
        { field: "", message: "must be an object" },
      ],
      lib: [{ field: "region", message: "must be one of eu, us" }],
    });
  });

  it("says why when no plan can be made", async () => {
    fakeApi(() => ({
      status: 409,
      body: { type: "https://opscenter.dev/problems/unresolvable", title: "Conflict", status: 409, detail: "lib ^2 conflicts with lib ^1" },
    }));
    renderWithApp(<InstallWizard slug="app" />);
    expect(await screen.findByRole("alert")).toHaveTextContent("lib ^2 conflicts with lib ^1");
  });
});
