import type { PluginSummary } from "../api/types";

export function Badges({ plugin, signed }: { plugin: Pick<PluginSummary, "verified" | "featured" | "deprecated">; signed?: boolean }) {
  return (
    <span className="badges">
      {plugin.verified && <span className="badge badge-verified">Verified</span>}
      {plugin.featured && <span className="badge badge-featured">Featured</span>}
      {signed && <span className="badge badge-signed">Signed</span>}
      {plugin.deprecated && <span className="badge badge-deprecated">Deprecated</span>}
    </span>
  );
}

export function Stars({ average, count }: { average: number; count: number }) {
  if (count === 0) return <span className="rating">No ratings yet</span>;
  return (
    <span className="rating" role="img" aria-label={`Rated ${average.toFixed(1)} out of 5 from ${count} review${count === 1 ? "" : "s"}`}>
      <span aria-hidden="true">★ {average.toFixed(1)}</span> <span aria-hidden="true">({count})</span>
    </span>
  );
}

export function price(pricing: Record<string, unknown>): string {
  if (pricing.free !== false) return "Free";
  const currency = String(pricing.currency ?? "");
  if (pricing.monthly) return `${pricing.monthly} ${currency} a month`;
  if (pricing.yearly) return `${pricing.yearly} ${currency} a year`;
  if (pricing.lifetime) return `${pricing.lifetime} ${currency} once`;
  return "Paid";
}
