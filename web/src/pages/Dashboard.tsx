// The tenant's installed plugins: state, "update available", enable and disable.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { api, describeError } from "../api/client";
import type { Installation, InstallationPage, PluginDetail } from "../api/types";
import { useSession } from "../auth";
import { Empty, Failed, Loading } from "../components/States";

export function Dashboard() {
  const session = useSession();
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
  return (
    <section aria-labelledby="dashboard-title">
      <h1 id="dashboard-title">Installed plugins{session.claims?.tenant_id ? ` of ${session.claims.tenant_id}` : ""}</h1>
      {installed.isPending && <Loading what="installed plugins" />}
      {installed.isError && <Failed error={installed.error} what="installed plugins" />}
      {installed.data && installed.data.items.length === 0 && (
        <Empty>
          No plugin is installed yet. <Link to="/">Find one in the marketplace.</Link>
        </Empty>
      )}
      {installed.data && installed.data.items.length > 0 && (
        <table className="installed">
          <thead>
            <tr>
              <th scope="col">Plugin</th>
              <th scope="col">Version</th>
              <th scope="col">State</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {installed.data.items.map((i) => (
              <Row key={i.id} installation={i} canManage={session.has("tenant_admin")} />
            ))}
          </tbody>
        </table>
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

function Row({ installation: i, canManage }: { installation: Installation; canManage: boolean }) {
  const client = useQueryClient();
  const detail = useQuery({
    queryKey: ["plugin", i.plugin],
    queryFn: () => api<PluginDetail>(`/plugins/marketplace/${encodeURIComponent(i.plugin)}`),
    retry: false,
  });
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
        <span className={`state state-${i.state}`}>{STATE_LABELS[i.state] ?? i.state}</span>
        {i.reason && <span className="reason"> ({i.reason})</span>}
      </td>
      <td>
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
