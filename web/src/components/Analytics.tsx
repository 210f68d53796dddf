// A plugin's analytics for its developer (GET /plugins/{id}/analytics): totals, then charts of
// installs and active installs, hook deliveries and failures, hook latency p95, rating and
// revenue with the developer's 70% and the platform's 30%.
import { useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { api } from "../api/client";
import type { PluginAnalytics, RevenueAmounts } from "../api/types";
import { MetricChart, type ChartSpec } from "./MetricChart";
import { SelectField } from "./SelectField";
import { Failed, Loading } from "./States";

const RANGES = {
  "24h": { label: "Last 24 hours, by hour", interval: "hour", ms: 24 * 3600_000 },
  "7d": { label: "Last 7 days, by day", interval: "day", ms: 7 * 24 * 3600_000 },
  "30d": { label: "Last 30 days, by day", interval: "day", ms: 30 * 24 * 3600_000 },
} as const;
type Range = keyof typeof RANGES;

/** A bucket's name: its UTC day, or its UTC day and hour. */
export function bucketLabel(start: string, interval: "hour" | "day"): string {
  const iso = new Date(start).toISOString();
  return interval === "day" ? iso.slice(0, 10) : `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
}

/** The currencies the plugin earned in, the totals' first. */
function currencies(data: PluginAnalytics): string[] {
  return Object.keys(data.totals.revenue ?? {}).sort();
}

const money = (amount: string | undefined) => (amount === undefined ? 0 : Number(amount));

/** The charts of one answer, in reading order. */
export function analyticsCharts(data: PluginAnalytics): ChartSpec[] {
  const id = `analytics-${data.slug}`;
  const labels = data.series.map((p) => bucketLabel(p.bucket_start, data.interval));
  const pick = (f: (p: PluginAnalytics["series"][number]) => number | null | undefined) => data.series.map((p) => f(p) ?? null);
  const charts: ChartSpec[] = [
    {
      id: `${id}-installs`,
      title: `Installs of ${data.slug}`,
      labels,
      integer: true,
      series: [
        { label: "Installs", kind: "bar", color: "#1f6feb", values: pick((p) => p.installs ?? 0) },
        { label: "Uninstalls", kind: "bar", color: "#a40e26", values: pick((p) => p.uninstalls ?? 0) },
        { label: "Active installs", kind: "line", color: "#116329", values: pick((p) => p.active_installs) },
      ],
    },
    {
      id: `${id}-deliveries`,
      title: `Hook deliveries of ${data.slug}`,
      labels,
      integer: true,
      series: [
        { label: "Deliveries", kind: "bar", color: "#1f6feb", values: pick((p) => p.hook_deliveries ?? 0) },
        { label: "Failures", kind: "bar", color: "#a40e26", values: pick((p) => p.hook_failures ?? 0) },
      ],
    },
    {
      id: `${id}-latency`,
      title: `Hook latency p95 of ${data.slug} (ms)`,
      labels,
      format: (v) => `${v.toFixed(1)} ms`,
      series: [{ label: "p95 latency", kind: "line", color: "#7a4a00", values: pick((p) => p.hook_latency_p95) }],
    },
    {
      id: `${id}-rating`,
      title: `Rating of ${data.slug}`,
      labels,
      format: (v) => v.toFixed(2),
      series: [{ label: "Average rating", kind: "line", color: "#7a4a00", values: pick((p) => p.rating?.average) }],
    },
  ];
  for (const currency of currencies(data)) {
    const of = (p: PluginAnalytics["series"][number]): RevenueAmounts | undefined => p.revenue?.[currency];
    charts.push({
      id: `${id}-revenue-${currency}`,
      title: `Revenue of ${data.slug} in ${currency}`,
      labels,
      stacked: true,
      format: (v) => `${v.toFixed(2)} ${currency}`,
      series: [
        { label: "Developer (70%)", kind: "bar", color: "#116329", values: pick((p) => money(of(p)?.developer)) },
        { label: "Platform (30%)", kind: "bar", color: "#4a5360", values: pick((p) => money(of(p)?.platform)) },
      ],
    });
  }
  return charts;
}

export function Totals({ data }: { data: PluginAnalytics }) {
  const t = data.totals;
  const revenue = Object.entries(t.revenue ?? {});
  return (
    <div role="group" aria-label={`Totals of ${data.slug}`}>
    <dl className="facts totals">
      <dt>Installs</dt>
      <dd>{t.installs ?? 0}</dd>
      <dt>Active installs</dt>
      <dd>{t.active_installs ?? 0}</dd>
      <dt>Hook deliveries</dt>
      <dd>
        {t.hook_deliveries ?? 0} ({t.hook_failures ?? 0} failed)
      </dd>
      <dt>Latency p95</dt>
      <dd>{t.hook_latency_p95 == null ? "no deliveries" : `${t.hook_latency_p95.toFixed(1)} ms`}</dd>
      <dt>Rating</dt>
      <dd>{t.rating && t.rating.count > 0 ? `${t.rating.average.toFixed(2)} from ${t.rating.count}` : "no ratings"}</dd>
      <dt>Revenue</dt>
      <dd>
        {revenue.length === 0
          ? "none"
          : revenue.map(([currency, r]) => (
              <span key={currency} className="revenue">
                {r.gross} {currency}: you {r.developer} (70%), platform {r.platform} (30%)
              </span>
            ))}
      </dd>
    </dl>
    </div>
  );
}

export function Analytics({ plugin, refetchMs = 5000 }: { plugin: string; refetchMs?: number }) {
  const [range, setRange] = useState<Range>("30d");
  const query = useQuery({
    queryKey: ["analytics", plugin, range],
    queryFn: () => {
      const { interval, ms } = RANGES[range];
      const to = new Date(Math.ceil(Date.now() / 3600_000) * 3600_000 + 3600_000);
      return api<PluginAnalytics>(`/plugins/${encodeURIComponent(plugin)}/analytics`, {
        query: { interval, from: new Date(to.getTime() - ms).toISOString(), to: to.toISOString() },
      });
    },
    // Installs and deliveries arrive through events: keep the charts current.
    refetchInterval: refetchMs,
  });
  const charts = useMemo(() => (query.data ? analyticsCharts(query.data) : []), [query.data]);
  return (
    <section className="analytics" aria-labelledby={`analytics-${plugin}`}>
      <h3 id={`analytics-${plugin}`}>Analytics of {plugin}</h3>
      <SelectField label={`Period of ${plugin}'s analytics`} value={range} onChange={(v) => setRange(v as Range)}>
        {Object.entries(RANGES).map(([key, r]) => (
          <option key={key} value={key}>
            {r.label}
          </option>
        ))}
      </SelectField>
      {query.isPending && <Loading what="analytics" />}
      {query.isError && <Failed error={query.error} what="analytics" />}
      {query.data && (
        <>
          <Totals data={query.data} />
          {query.data.series.length === 0 && <p className="empty">Nothing happened in this period yet.</p>}
          <div className="charts">
            {charts.map((spec) => (
              <MetricChart key={spec.id} spec={spec} />
            ))}
          </div>
        </>
      )}
    </section>
  );
}
