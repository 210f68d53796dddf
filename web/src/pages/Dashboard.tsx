// The tenant's installed plugins: state, "update available", enable and disable; a tenant
// admin opens one (?plugin=<slug>) to edit its configuration, upgrade it, read and replay its
// deliveries, rotate its webhook secret or uninstall it.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router-dom";
import { api, describeError } from "../api/client";
import type { Installation, InstallationPage, PluginDetail } from "../api/types";
import { useSession } from "../auth";
import { DeliveryLog } from "../components/DeliveryLog";
import { ConfigSection, UninstallSection, UpgradeSection } from "../components/ManageInstallation";
import { Empty, Failed, Loading } from "../components/States";
import { Tabs } from "../components/Tabs";
import { WebhookSecret } from "../components/WebhookSecret";

export function Dashboard() {
  const session = useSession();
  const [params] = useSearchParams();
  const open = params.get("plugin");
  const installed = useQuery({
    queryKey: ["installed"],
    queryFn: () => api<InstallationPage>("/plugins/installed", { query: { limit: 100 } }),
    enabled: session.has("member"),
    // Installs and bans change states behind the page's back: keep it current.
    refetchInterval: 3000,
  });
  if (!session.has("member"))
    return (
      <section>
        <h1>Installed plugins</h1>
        <p>
          The dashboard shows a tenant's plugins: <Link to="/sign-in">sign in</Link> as a member of a tenant.
        </p>
      </section>
    );
  const all = installed.data?.items ?? [];
  if (open && session.has("tenant_admin")) {
    const installation = all.find((i) => i.plugin === open);
    return (
      <section aria-labelledby="dashboard-title">
        <p>
          <Link to="/dashboard">All installed plugins</Link>
        </p>
        <h1 id="dashboard-title">Manage {open}</h1>
        {installed.isPending && <Loading what="the installation" />}
        {installed.isError && <Failed error={installed.error} what="the installation" />}
        {installed.data && !installation && <Empty>{open} is not installed in this tenant.</Empty>}
        {installation && <Manage installation={installation} all={all} />}
      </section>
    );
  }
  return (
    <section aria-labelledby="dashboard-title">
      <h1 id="dashboard-title">Installed plugins{session.claims?.tenant_id ? ` of ${session.claims.tenant_id}` : ""}</h1>
      {installed.isPending && <Loading what="installed plugins" />}
      {installed.isError && <Failed error={installed.error} what="installed plugins" />}
      {installed.data && all.length === 0 && (
        <Empty>
          No plugin is installed yet. <Link to="/">Find one in the marketplace.</Link>
        </Empty>
      )}
      {all.length > 0 && (
        <div className="table-scroll">
          <table className="installed">
            <caption className="visually-hidden">Installed plugins</caption>
            <thead>
              <tr>
                <th scope="col">Plugin</th>
                <th scope="col">Version</th>
                <th scope="col">State</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {all.map((i) => (
                <Row key={i.id} installation={i} canManage={session.has("tenant_admin")} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

const STATE_LABELS: Record<string, string> = {
  enabled: "Enabled",
  disabled: "Disabled",
  installed: "Installed",
  installing: "Installing",
  failed: "Failed",
  updating: "Updating",
  uninstalling: "Uninstalling",
};

function usePlugin(slug: string) {
  return useQuery({
    queryKey: ["plugin", slug],
    queryFn: () => api<PluginDetail>(`/plugins/marketplace/${encodeURIComponent(slug)}`),
    retry: false,
  });
}

function StateLabel({ installation: i }: { installation: Installation }) {
  return (
    <>
      <span className={`state state-${i.state}`}>{STATE_LABELS[i.state] ?? i.state}</span>
      {i.reason && <span className="reason"> ({i.reason})</span>}
    </>
  );
}

function Row({ installation: i, canManage }: { installation: Installation; canManage: boolean }) {
  const client = useQueryClient();
  const detail = usePlugin(i.plugin);
  const change = useMutation({
    mutationFn: (action: "enable" | "disable") =>
      api<Installation>(`/plugins/${encodeURIComponent(i.plugin)}/${action}`, { method: "POST" }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["installed"] }),
  });
  const latest = detail.data?.latest_version;
  return (
    <tr data-plugin={i.plugin}>
      <th scope="row">
        <Link to={`/plugins/${encodeURIComponent(i.plugin)}`}>{i.plugin}</Link>
      </th>
      <td>
        {i.version}
        {latest && latest !== i.version && <span className="badge badge-featured">Update available: {latest}</span>}
      </td>
      <td>
        <StateLabel installation={i} />
      </td>
      <td className="row-actions">
        {canManage && (
          <Link className="button secondary" to={`/dashboard?plugin=${encodeURIComponent(i.plugin)}`}>
            Manage <span className="visually-hidden">{i.plugin}</span>
          </Link>
        )}
        {canManage && i.state === "enabled" && (
          <button type="button" className="secondary" disabled={change.isPending} onClick={() => change.mutate("disable")}>
            Disable <span className="visually-hidden">{i.plugin}</span>
          </button>
        )}
        {canManage && i.state === "disabled" && i.reason !== "banned" && (
          <button type="button" className="secondary" disabled={change.isPending} onClick={() => change.mutate("enable")}>
            Enable <span className="visually-hidden">{i.plugin}</span>
          </button>
        )}
        {change.isError && <span role="alert"> {describeError(change.error)}</span>}
      </td>
    </tr>
  );
}

function Manage({ installation, all }: { installation: Installation; all: Installation[] }) {
  const [params, setParams] = useSearchParams();
  const slug = installation.plugin;
  const detail = usePlugin(slug);
  const tab = params.get("tab") ?? "config";
  const select = (id: string) => setParams({ plugin: slug, tab: id }, { replace: true });
  return (
    <>
      <p className="meta" data-testid="installation-summary">
        Version {installation.version} · <StateLabel installation={installation} /> · {installation.granted_permissions.length} permission
        {installation.granted_permissions.length === 1 ? "" : "s"} granted
      </p>
      {detail.isPending && <Loading what="the plugin's listing" />}
      {detail.isError && <Failed error={detail.error} what="the plugin's listing" />}
      {detail.data && (
        <Tabs
          label={`Manage ${slug}`}
          selected={tab}
          onSelect={select}
          tabs={[
            { id: "config", label: "Configuration", content: () => <ConfigSection installation={installation} detail={detail.data} /> },
            { id: "upgrade", label: "Upgrade", content: () => <UpgradeSection installation={installation} detail={detail.data} /> },
            { id: "deliveries", label: "Deliveries", content: () => <DeliveryLog pluginId={installation.plugin_id} slug={slug} /> },
            { id: "secret", label: "Webhook secret", content: () => <WebhookSecret pluginId={installation.plugin_id} slug={slug} /> },
            {
              id: "uninstall",
              label: "Uninstall",
              content: () => <UninstallSection installation={installation} all={all} onDone={() => setParams({})} />,
            },
          ]}
        />
      )}
    </>
  );
}
