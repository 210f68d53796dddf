import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { AnalyticsOverview as Overview } from "../api/types";
import { fakeApi, renderWithApp } from "../test/render";
import { AnalyticsOverview } from "./AnalyticsOverview";

const overview: Overview = {
  from: "2026-11-08T00:00:00Z",
  to: "2026-12-08T00:00:00Z",
  top_by_installs: [
    { plugin_id: "11111111-1111-1111-1111-111111111111", slug: "alerts", value: 42 },
    { plugin_id: "22222222-2222-2222-2222-222222222222", slug: null, value: 7 },
  ],
  top_by_deliveries: [{ plugin_id: "11111111-1111-1111-1111-111111111111", slug: "alerts", value: 1200 }],
  top_by_revenue: [],
  totals: {
    installs: 49,
    uninstalls: 3,
    enables: 50,
    disables: 2,
    downloads: 60,
    hook_deliveries: 1200,
    hook_failures: 4,
    hook_dead_letters: 1,
    active_installs: 46,
    revenue: { USD: { gross: "10.00", developer: "7.00", platform: "3.00", charges: 2 } },
  },
};

describe("AnalyticsOverview", () => {
  it("shows platform totals and the rankings, and refetches for another range", async () => {
    const calls = fakeApi(() => ({ status: 200, body: overview }));
    renderWithApp(<AnalyticsOverview />);
    const list = await screen.findByLabelText("Platform totals");
    expect(list).toHaveTextContent("Installs49");
    expect(list).toHaveTextContent("Active installs46");
    expect(list).toHaveTextContent("Revenue USD10.00 (developers 7.00, platform 3.00)");

    const installs = screen.getByRole("table", { name: "Top plugins by installs" });
    const rows = within(installs).getAllByRole("row");
    expect(rows).toHaveLength(3);
    expect(rows[1]).toHaveTextContent("1alerts42");
    expect(within(rows[1]).getByRole("link", { name: "alerts" })).toHaveAttribute("href", "/admin?plugin=alerts");
    expect(rows[2]).toHaveTextContent("22222222-2222-2222-2222-222222222222"); // no slug: its id
    expect(within(screen.getByRole("table", { name: "Top plugins by hook deliveries" })).getAllByRole("row")[1]).toHaveTextContent("1,200");
    expect(screen.getByText("No revenue in USD in this range.")).toBeInTheDocument();

    const first = new URL(calls[0].path, "http://x");
    expect(first.pathname).toBe("/api/v1/admin/analytics/overview");
    const days = (Date.parse(first.searchParams.get("to")!) - Date.parse(first.searchParams.get("from")!)) / 86_400_000;
    expect(Math.round(days)).toBe(30);
    await userEvent.selectOptions(screen.getByLabelText("Range"), "7d");
    await waitFor(() => expect(calls).toHaveLength(2));
    const second = new URL(calls[1].path, "http://x");
    expect(Math.round((Date.parse(second.searchParams.get("to")!) - Date.parse(second.searchParams.get("from")!)) / 86_400_000)).toBe(7);
    expect(first.searchParams.get("limit")).toBe("10");
    await userEvent.selectOptions(screen.getByLabelText("Plugins per ranking"), "100");
    await waitFor(() => expect(calls).toHaveLength(3));
    expect(new URL(calls[2].path, "http://x").searchParams.get("limit")).toBe("100");
  });

  it("shows the refusal when the caller is not a platform admin", async () => {
    fakeApi(() => ({ status: 403, body: { type: "about:blank", title: "Forbidden", status: 403, detail: "Not a platform admin" } }));
    renderWithApp(<AnalyticsOverview />);
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load the platform overview: Not a platform admin");
  });
});
