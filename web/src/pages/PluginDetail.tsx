// A plugin's page: the install button above the fold, then tabs for the overview, versions
// and changelog, permissions and hooks in plain words, dependencies and reviews.
import { useQuery } from "@tanstack/react-query";
import { Link, useParams, useSearchParams } from "react-router-dom";
import { api, ApiError } from "../api/client";
import type { HookEventList, PluginDetail as Detail, VersionPage } from "../api/types";
import { useSession } from "../auth";
import { Badges, price, Stars } from "../components/Badges";
import { Empty, Failed, Loading } from "../components/States";
import { Tabs } from "../components/Tabs";
import { describePermission } from "../permissions";
import { Reviews } from "./Reviews";

export function PluginDetail() {
  const { slug = "" } = useParams();
  const [params, setParams] = useSearchParams();
  const session = useSession();
  const detail = useQuery({
    queryKey: ["plugin", slug],
    queryFn: () => api<Detail>(`/plugins/marketplace/${encodeURIComponent(slug)}`),
    retry: false,
  });
  if (detail.isPending) return <Loading what="the plugin" />;
  if (detail.isError) {
    const gone = detail.error instanceof ApiError && detail.error.status === 410;
    return (
      <section>
        <h1>{slug}</h1>
        {gone ? (
          <div role="alert" className="error">
            This plugin was removed from the marketplace: {detail.error.message}
          </div>
        ) : (
          <Failed error={detail.error} what="the plugin" />
        )}
      </section>
    );
  }
  const p = detail.data;
  const latest = p.latest;
  const tab = params.get("tab") ?? "overview";
  return (
    <section aria-labelledby="plugin-title">
      <header className="plugin-header">
        <div>
          <h1 id="plugin-title">{p.name}</h1>
          <Badges plugin={p} signed={latest?.signed} />
          <p>{p.description}</p>
          <p className="meta">
            <Stars average={p.rating.average} count={p.rating.count} /> · {p.install_count} installs · {price(p.pricing)}
            {latest ? ` · version ${latest.version}` : ""} · by {p.publisher}
          </p>
          {p.deprecation && (
            <p className="warning">
              Deprecated: {p.deprecation.reason}
              {p.deprecation.replacement ? ` Use ${p.deprecation.replacement} instead.` : ""}
            </p>
          )}
        </div>
        <div className="install-box">
          {!latest ? (
            <p>No version is published yet.</p>
          ) : session.has("tenant_admin") ? (
            <Link className="button" to={`/plugins/${encodeURIComponent(p.slug)}/install`}>
              Install
            </Link>
          ) : (
            <p>
              <Link to="/sign-in">Sign in as a tenant admin</Link> to install.
            </p>
          )}
        </div>
      </header>
      <Tabs
        label="About this plugin"
        selected={tab}
        onSelect={(id) => setParams({ tab: id }, { replace: true })}
        tabs={[
          { id: "overview", label: "Overview", content: () => <Overview plugin={p} /> },
          { id: "versions", label: "Versions", content: () => <Versions slug={p.slug} /> },
          { id: "permissions", label: "Permissions and hooks", content: () => <Permissions plugin={p} /> },
          { id: "dependencies", label: "Dependencies", content: () => <Dependencies plugin={p} /> },
          { id: "reviews", label: "Reviews", content: () => <Reviews slug={p.slug} /> },
        ]}
      />
    </section>
  );
}

function Overview({ plugin }: { plugin: Detail }) {
  return (
    <dl className="facts">
      <dt>Category</dt>
      <dd>{plugin.category}</dd>
      <dt>Type</dt>
      <dd>{plugin.type}</dd>
      <dt>Tags</dt>
      <dd>{plugin.tags.length ? plugin.tags.join(", ") : "none"}</dd>
      <dt>Works with</dt>
      <dd>{plugin.latest?.compatibility ?? "any platform version"}</dd>
      <dt>Downloads</dt>
      <dd>{plugin.download_count}</dd>
    </dl>
  );
}

function Versions({ slug }: { slug: string }) {
  const versions = useQuery({
    queryKey: ["versions", slug],
    queryFn: () => api<VersionPage>(`/plugins/marketplace/${encodeURIComponent(slug)}/versions`),
  });
  if (versions.isPending) return <Loading what="versions" />;
  if (versions.isError) return <Failed error={versions.error} what="versions" />;
  if (versions.data.items.length === 0) return <Empty>No versions yet.</Empty>;
  return (
    <ul className="versions" aria-label="Versions">
      {versions.data.items.map((v) => (
        <li key={v.version}>
          <h3>
            {v.version} {v.signed && <span className="badge badge-signed">Signed</span>}
            {v.yanked && <span className="badge badge-deprecated">Yanked</span>}
          </h3>
          <p className="meta">
            Published {new Date(v.published_at).toLocaleDateString()} · {Math.ceil(v.size / 1024)} KiB
            {v.compatibility ? ` · works with ${v.compatibility}` : ""}
          </p>
          {v.yank_reason && <p>Yanked: {v.yank_reason}</p>}
          <p>{v.changelog || "No changelog."}</p>
        </li>
      ))}
    </ul>
  );
}

function Permissions({ plugin }: { plugin: Detail }) {
  const events = useQuery({ queryKey: ["hook-events"], queryFn: () => api<HookEventList>("/hooks/events") });
  const latest = plugin.latest;
  if (!latest) return <Empty>No version is published yet.</Empty>;
  const describe = (name: string) => events.data?.items.find((e) => e.name === name)?.description;
  return (
    <>
      <h3>What it may do</h3>
      {latest.permissions.length === 0 ? (
        <Empty>It asks for no permission.</Empty>
      ) : (
        <ul>
          {latest.permissions.map((perm) => (
            <li key={perm}>
              {describePermission(perm)} <code>{perm}</code>
            </li>
          ))}
        </ul>
      )}
      <h3>Events it receives</h3>
      {latest.hooks.length === 0 ? (
        <Empty>It subscribes to no event.</Empty>
      ) : (
        <ul>
          {latest.hooks.map((h) => (
            <li key={h.name}>
              {describe(h.name) ?? h.name} <code>{h.name}</code>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

function Dependencies({ plugin }: { plugin: Detail }) {
  const deps = Object.entries(plugin.latest?.dependencies ?? {});
  if (deps.length === 0) return <Empty>It needs no other plugin.</Empty>;
  return (
    <ul>
      {deps.map(([slug, range]) => (
        <li key={slug}>
          <Link to={`/plugins/${encodeURIComponent(slug)}`}>{slug}</Link> {range}
        </li>
      ))}
    </ul>
  );
}
