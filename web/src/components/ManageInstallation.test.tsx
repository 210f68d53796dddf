import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { Installation, PluginDetail } from "../api/types";
import { fakeApi, renderWithApp } from "../test/render";
import { ConfigSection, dependentsOf, newPermissions, UninstallSection, UpgradeSection } from "./ManageInstallation";

const schema = {
  type: "object",
  properties: {
    api_key: { type: "string", title: "API key", secret: true },
    region: { type: "string", title: "Region", enum: ["eu", "us"] },
  },
  required: ["api_key"],
};

function installation(over: Partial<Installation> = {}): Installation {
  return {
    id: "i1",
    plugin: "app",
    plugin_id: "id-app",
    version: "1.0.0",
    state: "enabled",
    reason: null,
    granted_permissions: ["api:devices:read"],
    config: { api_key: "********", region: "eu" },
    dependencies: {},
    updated_at: "2026-12-08T00:00:00Z",
    ...over,
  } as Installation;
}

function detail(version: string, permissions: string[]): PluginDetail {
  return { slug: "app", latest: { version, permissions, config_schema: schema, changelog: "Faster alerts." } } as unknown as PluginDetail;
}

describe("ConfigSection", () => {
  it("shows secrets masked and sends the mask back, which keeps the stored secret", async () => {
    const calls = fakeApi(({ body }) => ({ status: 200, body: installation({ config: (body as { config: object }).config as never }) }));
    renderWithApp(<ConfigSection installation={installation()} detail={detail("1.0.0", [])} />);
    const secret = screen.getByLabelText(/API key/);
    expect(secret).toHaveAttribute("type", "password");
    expect(secret).toHaveValue("********");
    await userEvent.selectOptions(screen.getByLabelText(/Region/), "us");
    await userEvent.click(screen.getByRole("button", { name: "Save configuration" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Configuration saved.");
    expect(calls[0]).toMatchObject({ method: "PUT", path: "/api/v1/plugins/app/config", body: { config: { api_key: "********", region: "us" } } });
    expect(calls[0].headers["Idempotency-Key"]).toBeTruthy();
  });

  it("puts the server's field errors on the fields they name", async () => {
    fakeApi(() => ({
      status: 422,
      body: { type: "https://opscenter/problems/config-invalid", title: "Invalid config", status: 422, detail: "The config is invalid", errors: [{ field: "config.api_key", message: "is not a valid key" }] },
    }));
    renderWithApp(<ConfigSection installation={installation()} detail={detail("1.0.0", [])} />);
    await userEvent.click(screen.getByRole("button", { name: "Save configuration" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("The config is invalid");
    const field = screen.getByLabelText(/API key/).closest(".form-group") as HTMLElement;
    await waitFor(() => expect(field).toHaveTextContent("is not a valid key"));
    expect(screen.getByLabelText(/Region/).closest(".form-group")).not.toHaveTextContent("is not a valid key");
  });

  it("says so when the plugin has no settings", () => {
    fakeApi(() => ({ status: 500 }));
    const bare = { slug: "app", latest: { version: "1.0.0", permissions: [], config_schema: null } } as unknown as PluginDetail;
    renderWithApp(<ConfigSection installation={installation()} detail={bare} />);
    expect(screen.getByText("app has no settings.")).toBeInTheDocument();
  });
});

describe("UpgradeSection", () => {
  it("asks consent only for the permissions the new version adds, and sends only those", async () => {
    expect(newPermissions(installation(), ["api:devices:read", "storage:read"])).toEqual(["storage:read"]);
    const calls = fakeApi(() => ({ status: 202, body: installation({ state: "updating", target_version: "1.1.0" }) }));
    renderWithApp(<UpgradeSection installation={installation()} detail={detail("1.1.0", ["api:devices:read", "storage:read"])} />);
    const asked = screen.getByRole("group", { name: "Version 1.1.0 asks for new permissions" });
    expect(within(asked).getAllByRole("listitem")).toHaveLength(1);
    expect(asked).toHaveTextContent("storage:read");
    expect(asked).not.toHaveTextContent("api:devices:read");
    const upgrade = screen.getByRole("button", { name: "Upgrade to 1.1.0" });
    expect(upgrade).toBeDisabled();
    await userEvent.click(screen.getByLabelText("I grant this new permission"));
    await userEvent.click(upgrade);
    expect(await screen.findByRole("status")).toHaveTextContent("Upgrade to 1.1.0 started.");
    expect(calls[0]).toMatchObject({ method: "POST", path: "/api/v1/plugins/app/upgrade", body: { version: "1.1.0", accept_permissions: ["storage:read"] } });
  });

  it("needs no consent when nothing is added, and shows a refusal", async () => {
    fakeApi(() => ({ status: 409, body: { type: "about:blank", title: "Conflict", status: 409, detail: "lib ^2.0.0 cannot be met" } }));
    renderWithApp(<UpgradeSection installation={installation()} detail={detail("1.1.0", ["api:devices:read"])} />);
    expect(screen.getByText("It asks for no new permission.")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Upgrade to 1.1.0" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("The upgrade was refused: lib ^2.0.0 cannot be met");
  });

  it("says the installed version is the latest", () => {
    fakeApi(() => ({ status: 500 }));
    renderWithApp(<UpgradeSection installation={installation()} detail={detail("1.0.0", [])} />);
    expect(screen.getByText("Version 1.0.0 is the latest.")).toBeInTheDocument();
    expect(screen.queryByRole("button")).toBeNull();
  });
});

describe("UninstallSection", () => {
  const lib = installation({ id: "i2", plugin: "lib", plugin_id: "id-lib" });
  const all = [lib, installation({ dependencies: { lib: "1.0.0" } }), installation({ id: "i3", plugin: "other" })];

  it("names the installed plugins that depend on it and sends the chosen cascade", async () => {
    expect(dependentsOf("lib", all)).toEqual(["app"]);
    const done = vi.fn();
    const calls = fakeApi(() => ({ status: 202, body: { ...lib, state: "uninstalling" } }));
    renderWithApp(<UninstallSection installation={lib} all={all} onDone={done} />);
    expect(screen.getByRole("note")).toHaveTextContent("This installed plugin depends on lib: app.");
    await userEvent.click(screen.getByLabelText("Uninstall them too"));
    await userEvent.click(screen.getByRole("button", { name: "Uninstall lib" }));
    const confirm = screen.getByRole("group", { name: "Confirm the uninstall" });
    expect(confirm).toHaveTextContent("Uninstall lib and uninstall app?");
    expect(calls).toHaveLength(0); // nothing happens before the confirmation
    await userEvent.click(within(confirm).getByRole("button", { name: "Yes, uninstall lib" }));
    await waitFor(() => expect(done).toHaveBeenCalled());
    expect(calls[0]).toMatchObject({ method: "POST", path: "/api/v1/plugins/lib/uninstall", body: { cascade: "uninstall" } });
  });

  it("shows the server's refusal", async () => {
    fakeApi(() => ({ status: 409, body: { type: "about:blank", title: "Conflict", status: 409, detail: "app depends on lib" } }));
    renderWithApp(<UninstallSection installation={installation({ plugin: "solo" })} all={[]} onDone={() => {}} />);
    expect(screen.getByText("No installed plugin depends on solo.")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Uninstall solo" }));
    await userEvent.click(screen.getByRole("button", { name: "Yes, uninstall solo" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("app depends on lib");
  });
});
