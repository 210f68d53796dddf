import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { VersionRead } from "../api/types";
import { fakeApi, renderWithApp } from "../test/render";
import { Versions } from "./Versions";

function version(v: string, yanked = false, reason: string | null = null): VersionRead {
  return { version: v, published_at: "2026-12-08T00:00:00Z", yanked, yank_reason: reason, digest: "sha256:x", size: 100, signed: true, compatibility: null, changelog: null } as unknown as VersionRead;
}

describe("Versions", () => {
  it("yanks a version with a reason and marks it yanked", async () => {
    let items = [version("1.1.0"), version("1.0.0")];
    const calls = fakeApi(({ method, path, body }) => {
      if (method === "GET") return { status: 200, body: { items } };
      expect(path).toBe("/api/v1/admin/plugins/app/versions/1.1.0/yank");
      const reason = (body as { reason: string }).reason;
      items = [version("1.1.0", true, reason), version("1.0.0")];
      return { status: 200, body: { slug: "app", version: "1.1.0", yanked: true, yank_reason: reason, yanked_at: "2026-12-08T01:00:00Z", latest_version: "1.0.0" } };
    });
    const yanked = vi.fn();
    renderWithApp(<Versions slug="app" onYanked={yanked} />);
    const table = await screen.findByRole("table", { name: "Versions of app" });
    expect(within(table).getAllByRole("row")).toHaveLength(3);

    await userEvent.click(screen.getByRole("button", { name: "Yank 1.1.0" }));
    const form = screen.getByRole("form", { name: "Yank app 1.1.0" });
    const submit = within(form).getByRole("button", { name: "Yank 1.1.0" });
    expect(submit).toBeDisabled(); // a reason is required
    await userEvent.type(within(form).getByLabelText("Reason for yanking 1.1.0"), "crashes on start{Enter}");

    expect(await screen.findByRole("status")).toHaveTextContent("Yanked 1.1.0; the latest version is now 1.0.0.");
    await waitFor(() => expect(table.querySelector("tr[data-version='1.1.0']")).toHaveTextContent("Yanked: crashes on start"));
    expect(screen.queryByRole("button", { name: "Yank 1.1.0" })).toBeNull();
    expect(screen.getByRole("button", { name: "Yank 1.0.0" })).toBeInTheDocument();
    expect(calls.filter((c) => c.method === "PUT").map((c) => c.body)).toEqual([{ reason: "crashes on start" }]);
    expect(yanked).toHaveBeenCalledTimes(1);
  });

  it("shows the server's refusal and keeps the form", async () => {
    fakeApi(({ method }) =>
      method === "GET"
        ? { status: 200, body: { items: [version("1.0.0")] } }
        : { status: 404, body: { type: "about:blank", title: "Not Found", status: 404, detail: "No such plugin (or version), or not yours" } },
    );
    renderWithApp(<Versions slug="app" />);
    await userEvent.click(await screen.findByRole("button", { name: "Yank 1.0.0" }));
    await userEvent.type(screen.getByLabelText("Reason for yanking 1.0.0"), "oops");
    await userEvent.click(within(screen.getByRole("form", { name: "Yank app 1.0.0" })).getByRole("button", { name: "Yank 1.0.0" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("No such plugin (or version), or not yours");
    expect(screen.getByLabelText("Reason for yanking 1.0.0")).toHaveValue("oops");
  });

  it("cancels a yank with Escape and sends nothing", async () => {
    const calls = fakeApi(() => ({ status: 200, body: { items: [version("1.0.0")] } }));
    renderWithApp(<Versions slug="app" />);
    await userEvent.click(await screen.findByRole("button", { name: "Yank 1.0.0" }));
    expect(screen.getByLabelText("Reason for yanking 1.0.0")).toHaveFocus();
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByRole("form", { name: "Yank app 1.0.0" })).toBeNull();
    expect(screen.getByRole("button", { name: "Yank 1.0.0" })).toHaveFocus();
    expect(calls.every((c) => c.method === "GET")).toBe(true);
  });

  it("shows the empty state", async () => {
    fakeApi(() => ({ status: 200, body: { items: [] } }));
    renderWithApp(<Versions slug="app" />);
    expect(await screen.findByText("No version uploaded yet.")).toBeInTheDocument();
  });
});
