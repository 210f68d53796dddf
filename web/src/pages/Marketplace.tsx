// The marketplace: search as you type (debounced), facets and sorts held in the URL so a
// search can be shared and the back button works.
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { api } from "../api/client";
import type { MarketplacePage } from "../api/types";
import { Badges, price, Stars } from "../components/Badges";
import { SelectField } from "../components/SelectField";
import { Empty, Failed, Loading } from "../components/States";

const FILTERS = ["category", "type", "pricing", "verified", "compatible_with", "sort"] as const;
const SORTS = ["relevance", "popular", "rating", "newest", "name"] as const;
export const SEARCH_DEBOUNCE_MS = 300;

export function Marketplace() {
  const [params, setParams] = useSearchParams();
  const [typed, setTyped] = useState(params.get("q") ?? "");
  useEffect(() => {
    const timer = setTimeout(() => {
      if ((params.get("q") ?? "") === typed) return;
      const next = new URLSearchParams(params);
      if (typed) next.set("q", typed);
      else next.delete("q");
      setParams(next, { replace: true });
    }, SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [typed, params, setParams]);

  const query = Object.fromEntries(["q", ...FILTERS].map((k) => [k, params.get(k)]));
  const page = useQuery({
    queryKey: ["marketplace", query],
    queryFn: ({ signal }) => api<MarketplacePage>("/plugins/marketplace", { query, signal }),
    placeholderData: keepPreviousData,
  });
  const setFilter = (key: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    setParams(next);
  };
  const facets = page.data?.facets;
  const facetOptions = (name: "category" | "type" | "pricing") =>
    Object.entries((facets?.[name] ?? {}) as Record<string, number>).sort(([a], [b]) => a.localeCompare(b));

  return (
    <section aria-labelledby="marketplace-title">
      <h1 id="marketplace-title">Marketplace</h1>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Search plugins
          <input type="search" value={typed} onChange={(e) => setTyped(e.target.value)} placeholder="Name, tag or words" />
        </label>
        {(["category", "type", "pricing"] as const).map((name) => (
          <SelectField key={name} label={name[0].toUpperCase() + name.slice(1)} value={params.get(name) ?? ""} onChange={(v) => setFilter(name, v)}>
            <option value="">Any</option>
              {facetOptions(name).map(([value, count]) => (
                <option key={value} value={value}>
                  {value} ({count})
                </option>
              ))}
              {params.get(name) && !facetOptions(name).some(([v]) => v === params.get(name)) && (
                <option value={params.get(name)!}>{params.get(name)}</option>
              )}
          </SelectField>
        ))}
        <label className="check">
          <input type="checkbox" checked={params.get("verified") === "true"} onChange={(e) => setFilter("verified", e.target.checked ? "true" : "")} />
          Verified only
        </label>
        <label>
          Works with platform version
          <input
            defaultValue={params.get("compatible_with") ?? ""}
            placeholder="e.g. 2.3.0"
            pattern="\d+\.\d+\.\d+"
            onBlur={(e) => setFilter("compatible_with", e.target.validity.valid ? e.target.value : "")}
          />
        </label>
        <SelectField label="Sort by" value={params.get("sort") ?? "relevance"} onChange={(v) => setFilter("sort", v)}>
          {SORTS.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </SelectField>
      </form>
      {page.isPending && <Loading what="plugins" />}
      {page.isError && <Failed error={page.error} what="the marketplace" />}
      {page.data && page.data.items.length === 0 && <Empty>No plugin matches this search.</Empty>}
      {page.data && page.data.items.length > 0 && (
        <ul className="cards" aria-label="Plugins" aria-busy={page.isFetching}>
          {page.data.items.map((p) => (
            <li key={p.id} className="card">
              <h2>
                <Link to={`/plugins/${encodeURIComponent(p.slug)}`}>{p.name}</Link>
              </h2>
              <Badges plugin={p} />
              <p>{p.description || "No description."}</p>
              <p className="meta">
                <Stars average={p.rating.average} count={p.rating.count} /> · {p.install_count} installs · {price(p.pricing)} ·{" "}
                {p.category} · by {p.publisher}
              </p>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
