// The platform analytics overview for platform admins: totals over a range and the top plugins
// by installs, hook deliveries and revenue (GET /admin/analytics/overview).
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router-dom";
import { api } from "../api/client";
import type { AnalyticsOverview as Overview, RankedPlugin } from "../api/types";
import { SelectField } from "./SelectField";
import { Empty, Failed, Loading } from "./States";

const RANGES = { "24h": 1, "7d": 7, "30d": 30 } as const;
type Range = keyof typeof RANGES;

export function AnalyticsOverview({ currency = "USD" }: { currency?: string }) {
  const [range, setRange] = useState<Range>("30d");
  const [limit, setLimit] = useState(10);
  const overview = useQuery({
    queryKey: ["analytics-overview", range, currency, limit],
    queryFn: () => {
      const to = new Date();
      const from = new Date(to.getTime() - RANGES[range] * 86_400_000);
      return api<Overview>("/admin/analytics/overview", {
        query: { from: from.toISOString(), to: to.toISOString(), currency, limit },
      });
    },
  });
  return (
    <section aria-labelledby="overview-title">
      <h2 id="overview-title">Platform overview</h2>
      <SelectField label="Range" value={range} onChange={(v) => setRange(v as Range)}>
        <option value="24h">Last 24 hours</option>
        <option value="7d">Last 7 days</option>
        <option value="30d">Last 30 days</option>
      </SelectField>
      <SelectField label="Plugins per ranking" value={limit} onChange={(v) => setLimit(Number(v))}>
        {[10, 25, 100].map((n) => (
          <option key={n} value={n}>
            {n}
          </option>
        ))}
      </SelectField>
      {overview.isPending && <Loading what="the platform overview" />}
      {overview.isError && <Failed error={overview.error} what="the platform overview" />}
      {overview.data && <Body data={overview.data} currency={currency} />}
    </section>
  );
}

function Body({ data, currency }: { data: Overview; currency: string }) {
  const t = data.totals;
  const totals: [string, number][] = [
    ["Installs", t.installs],
    ["Uninstalls", t.uninstalls],
    ["Active installs", t.active_installs],
    ["Enables", t.enables],
    ["Disables", t.disables],
    ["Downloads", t.downloads],
    ["Hook deliveries", t.hook_deliveries],
    ["Hook failures", t.hook_failures],
    ["Dead letters", t.hook_dead_letters],
  ];
  const revenue = Object.entries(t.revenue);
  return (
    <>
      <p className="meta">
        {new Date(data.from).toLocaleString()} to {new Date(data.to).toLocaleString()}
      </p>
      <dl className="overview-totals" aria-label="Platform totals">
        {totals.map(([label, value]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>{value.toLocaleString()}</dd>
          </div>
        ))}
        {revenue.map(([cur, r]) => (
          <div key={cur}>
            <dt>Revenue {cur}</dt>
            <dd>
              {r.gross} (developers {r.developer}, platform {r.platform})
            </dd>
          </div>
        ))}
      </dl>
      <div className="two-columns">
        <Ranking title="Top plugins by installs" unit="Installs" items={data.top_by_installs} />
        <Ranking title="Top plugins by hook deliveries" unit="Deliveries" items={data.top_by_deliveries} />
      </div>
      <h3 id="top-revenue">Top plugins by revenue ({currency})</h3>
      {data.top_by_revenue.length === 0 ? (
        <Empty>No revenue in {currency} in this range.</Empty>
      ) : (
        <div className="table-scroll">
          <table aria-labelledby="top-revenue">
            <thead>
              <tr>
                <th scope="col">Plugin</th>
                <th scope="col">Gross</th>
                <th scope="col">Developer 70%</th>
                <th scope="col">Platform 30%</th>
                <th scope="col">Charges</th>
              </tr>
            </thead>
            <tbody>
              {data.top_by_revenue.map((r) => (
                <tr key={r.plugin_id}>
                  <td>
                    <PluginName slug={r.slug} id={r.plugin_id} />
                  </td>
                  <td>{r.gross}</td>
                  <td>{r.developer}</td>
                  <td>{r.platform}</td>
                  <td>{r.charges}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function Ranking({ title, unit, items }: { title: string; unit: string; items: RankedPlugin[] }) {
  const id = title.toLowerCase().replace(/\W+/g, "-");
  return (
    <div className="panel">
      <h3 id={id}>{title}</h3>
      {items.length === 0 ? (
        <Empty>Nothing in this range.</Empty>
      ) : (
        <table aria-labelledby={id}>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Plugin</th>
              <th scope="col">{unit}</th>
            </tr>
          </thead>
          <tbody>
            {items.map((r, i) => (
              <tr key={r.plugin_id}>
                <td>{i + 1}</td>
                <td>
                  <PluginName slug={r.slug} id={r.plugin_id} />
                </td>
                <td>{r.value.toLocaleString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

/** A ranked plugin opens in moderation; one the catalog no longer names shows its id. */
function PluginName({ slug, id }: { slug: string | null; id: string }) {
  const key = slug ?? id;
  return <Link to={`/admin?plugin=${encodeURIComponent(key)}`}>{slug ?? <code>{id}</code>}</Link>;
}
