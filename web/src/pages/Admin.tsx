// Platform moderation: the platform analytics overview; find a plugin, verify, feature (rank and
// end date), deprecate (optional replacement) or ban it with a reason, yank a version with a
// reason, read its moderation log, hide or show its reviews, and read its analytics.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { api } from "../api/client";
import type { ModerationLog, PluginRead } from "../api/types";
import { useSession } from "../auth";
import { Analytics } from "../components/Analytics";
import { Refusal } from "../components/Refusal";
import { ReviewModeration } from "../components/ReviewModeration";
import { AnalyticsOverview } from "../components/AnalyticsOverview";
import { Empty, Failed, Loading } from "../components/States";
import { Versions } from "../components/Versions";

export function Admin() {
  const session = useSession();
  const [params, setParams] = useSearchParams();
  const [typed, setTyped] = useState(params.get("plugin") ?? "");
  const slug = params.get("plugin") ?? "";
  if (!session.has("platform_admin"))
    return (
      <section>
        <h1>Moderation</h1>
        <p>
          Moderation needs a platform admin: <Link to="/sign-in">sign in</Link>.
        </p>
      </section>
    );
  return (
    <section aria-labelledby="admin-title">
      <h1 id="admin-title">Moderation</h1>
      <form
        className="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setParams(typed ? { plugin: typed.trim() } : {});
        }}
      >
        <label>
          Plugin slug or id
          <input value={typed} onChange={(e) => setTyped(e.target.value)} />
        </label>
        <button type="submit">Open</button>
      </form>
      {slug ? <Moderate key={slug} plugin={slug} /> : <AnalyticsOverview />}
    </section>
  );
}

type Action = "verify" | "feature" | "deprecate" | "ban";

function Moderate({ plugin }: { plugin: string }) {
  const client = useQueryClient();
  const path = `/admin/plugins/${encodeURIComponent(plugin)}`;
  const log = useQuery({ queryKey: ["moderation", plugin], queryFn: () => api<ModerationLog>(`${path}/moderation`) });
  const [reason, setReason] = useState("");
  const [rank, setRank] = useState(1);
  const [until, setUntil] = useState("");
  const [replacement, setReplacement] = useState("");
  const [result, setResult] = useState<PluginRead | null>(null);
  const act = useMutation({
    mutationFn: (action: Action) => {
      const why = reason.trim() || null;
      if (action === "verify") return api<PluginRead>(`${path}/verify`, { method: "PUT", body: { verified: true, reason: why } });
      if (action === "feature")
        return api<PluginRead>(`${path}/feature`, {
          method: "PUT",
          body: { featured: true, rank, until: until ? new Date(until).toISOString() : null, reason: why },
        });
      if (action === "deprecate")
        return api<PluginRead>(`${path}/deprecate`, {
          method: "PUT",
          body: { reason: reason.trim(), replacement: replacement.trim() || null },
        });
      return api<PluginRead>(`${path}/ban`, { method: "DELETE", query: { reason: why } });
    },
    onSuccess: (plugin) => {
      setResult(plugin);
      return client.invalidateQueries({ queryKey: ["moderation"] });
    },
  });
  const submit = (action: Action) => (e: FormEvent) => {
    e.preventDefault();
    act.mutate(action);
  };
  return (
    <>
      <form className="panel" aria-labelledby="moderate-title" onSubmit={submit("ban")}>
        <h2 id="moderate-title">Moderate {plugin}</h2>
        <label>
          Reason (kept in the moderation log; required to deprecate or ban)
          <input value={reason} onChange={(e) => setReason(e.target.value)} />
        </label>
        <div className="actions">
          <button type="button" className="secondary" onClick={submit("verify")}>
            Verify
          </button>
        </div>
        <div className="two-columns">
          <label>
            Featured rank
            <input type="number" min={1} value={rank} onChange={(e) => setRank(Number(e.target.value))} />
          </label>
          <label>
            Featured until (optional)
            <input type="date" value={until} onChange={(e) => setUntil(e.target.value)} />
          </label>
        </div>
        <div className="actions">
          <button type="button" className="secondary" onClick={submit("feature")}>
            Feature
          </button>
        </div>
        <label>
          Replacement plugin slug (optional, for deprecation)
          <input value={replacement} onChange={(e) => setReplacement(e.target.value)} />
        </label>
        <div className="actions">
          <button type="button" className="secondary" disabled={!reason.trim()} onClick={submit("deprecate")}>
            Deprecate
          </button>
          <button type="submit" className="danger" disabled={!reason.trim()}>
            Ban {plugin}
          </button>
        </div>
        <Refusal error={act.error} />
        {result && (
          <p role="status">
            {result.slug}: {result.banned ? "banned" : [result.verified && "verified", result.featured && "featured", result.deprecated && "deprecated"].filter(Boolean).join(", ") || "listed"}.
          </p>
        )}
      </form>
      <h2>Versions</h2>
      <Versions slug={plugin} onYanked={() => client.invalidateQueries({ queryKey: ["moderation"] })} />
      <h2>Moderation log</h2>
      {log.isPending && <Loading what="the moderation log" />}
      {log.isError && <Failed error={log.error} what="the moderation log" />}
      {log.data && log.data.items.length === 0 && <Empty>Nothing was moderated yet.</Empty>}
      {log.data && log.data.items.length > 0 && (
        <table>
          <caption className="visually-hidden">Moderation log of {plugin}</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Action</th>
              <th scope="col">By</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {log.data.items.map((entry) => (
              <tr key={entry.id}>
                <td>{new Date(entry.created_at).toLocaleString()}</td>
                <td>
                  {entry.action}
                  {entry.version ? ` ${entry.version}` : ""}
                </td>
                <td>{entry.actor_id}</td>
                <td>{entry.reason ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ReviewModeration slug={plugin} />
      <Analytics plugin={plugin} />
    </>
  );
}
