import { screen, within } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { PluginAnalytics } from "../api/types";
import { fakeApi, renderWithApp } from "../test/render";

// jsdom has no canvas: the Chart class is replaced by a spy that records what it was given.
type Config = { data: { labels: string[]; datasets: { type: string; label: string; data: (number | null)[] }[] }; options: { scales: { y: { stacked: boolean } } } };
const created: { canvas: unknown; config: Config }[] = [];
vi.mock("chart.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("chart.js")>();
  class FakeChart {
    static register = vi.fn();
    constructor(canvas: unknown, config: never) {
      created.push({ canvas, config });
    }
    destroy = vi.fn();
  }
  return { ...real, Chart: FakeChart };
});

const { Analytics, analyticsCharts, bucketLabel } = await import("./Analytics");

const answer: PluginAnalytics = {
  plugin_id: "00000000-0000-0000-0000-000000000001",
  slug: "pager",
  version: null,
  interval: "day",
  from: "2026-12-06T00:00:00Z",
  to: "2026-12-08T00:00:00Z",
  metrics: [],
  series: [
    {
      bucket_start: "2026-12-06T00:00:00Z",
      installs: 2,
      uninstalls: 0,
      active_installs: 2,
      hook_deliveries: 10,
      hook_failures: 1,
      hook_latency_p95: 120.5,
      rating: null,
      revenue: { EUR: { gross: "10.00", developer: "7.00", platform: "3.00", charges: 1 } },
    },
    {
      bucket_start: "2026-12-07T00:00:00Z",
      installs: 1,
      uninstalls: 1,
      active_installs: 2,
      hook_deliveries: 0,
      hook_failures: 0,
      hook_latency_p95: null,
      rating: { average: 4.5, count: 2 },
      revenue: null,
    },
  ],
  totals: {
    installs: 3,
    uninstalls: 1,
    active_installs: 2,
    hook_deliveries: 10,
    hook_failures: 1,
    hook_latency_p95: 120.5,
    rating: { average: 4.5, count: 2 },
    revenue: { EUR: { gross: "10.00", developer: "7.00", platform: "3.00", charges: 1 } },
  },
};

describe("analyticsCharts", () => {
  it("names buckets by their UTC day or hour", () => {
    expect(bucketLabel("2026-12-06T00:00:00Z", "day")).toBe("2026-12-06");
    expect(bucketLabel("2026-12-06T13:00:00Z", "hour")).toBe("2026-12-06 13:00");
  });

  it("charts installs, deliveries, latency p95, rating and the 70/30 revenue split", () => {
    const charts = analyticsCharts(answer);
    expect(charts.map((c) => c.title)).toEqual([
      "Installs of pager",
      "Hook deliveries of pager",
      "Hook latency p95 of pager (ms)",
      "Rating of pager",
      "Revenue of pager in EUR",
    ]);
    const [installs, deliveries, latency, rating, revenue] = charts;
    expect(installs.labels).toEqual(["2026-12-06", "2026-12-07"]);
    expect(installs.series.map((s) => [s.label, s.values])).toEqual([
      ["Installs", [2, 1]],
      ["Uninstalls", [0, 1]],
      ["Active installs", [2, 2]],
    ]);
    expect(deliveries.series.map((s) => s.values)).toEqual([
      [10, 0],
      [1, 0],
    ]);
    expect(latency.series[0].values).toEqual([120.5, null]); // no deliveries: no point
    expect(rating.series[0].values).toEqual([null, 4.5]);
    expect(revenue.stacked).toBe(true);
    expect(revenue.series.map((s) => [s.label, s.values])).toEqual([
      ["Developer (70%)", [7, 0]],
      ["Platform (30%)", [3, 0]],
    ]);
  });
});

describe("Analytics", () => {
  beforeEach(() => {
    created.length = 0;
  });

  it("loads the plugin's analytics, draws each chart on its canvas and offers the numbers as tables", async () => {
    const calls = fakeApi(({ path }) =>
      path.startsWith("/api/v1/plugins/pager/analytics?") ? { status: 200, body: answer } : { status: 404 },
    );
    renderWithApp(<Analytics plugin="pager" refetchMs={0} />);
    expect(screen.getByRole("status")).toHaveTextContent("Loading analytics");
    const table = await screen.findByRole("table", { name: "Installs of pager" });
    expect(within(table).getByRole("row", { name: "2026-12-06 2 0 2" })).toBeInTheDocument();
    const latency = screen.getByRole("table", { name: "Hook latency p95 of pager (ms)" });
    expect(within(latency).getByRole("row", { name: "2026-12-06 120.5 ms" })).toBeInTheDocument();
    expect(within(latency).getByRole("row", { name: "2026-12-07 none" })).toBeInTheDocument();
    const revenue = screen.getByRole("table", { name: "Revenue of pager in EUR" });
    expect(within(revenue).getByRole("row", { name: "2026-12-06 7.00 EUR 3.00 EUR" })).toBeInTheDocument();
    expect(screen.getByRole("group", { name: "Totals of pager" })).toHaveTextContent(
      "10.00 EUR: you 7.00 (70%), platform 3.00 (30%)",
    );

    expect(created).toHaveLength(5);
    expect(created[0].canvas).toBe(screen.getByRole("img", { name: "Installs of pager" }));
    expect(created[0].config.data.datasets.map((d) => d.type)).toEqual(["bar", "bar", "line"]);
    expect(created[4].config.options.scales.y.stacked).toBe(true);

    const url = new URL(calls[0].path, "http://x");
    expect(url.searchParams.get("interval")).toBe("day");
    expect(Date.parse(url.searchParams.get("to")!) - Date.parse(url.searchParams.get("from")!)).toBe(30 * 24 * 3600_000);
  });

  it("says why when the service refuses", async () => {
    fakeApi(() => ({ status: 403, body: { type: "about:blank", title: "Forbidden", status: 403, detail: "Not your plugin" } }));
    renderWithApp(<Analytics plugin="pager" refetchMs={0} />);
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load analytics: Not your plugin");
    expect(created).toHaveLength(0);
  });
});
