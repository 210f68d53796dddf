// The delivery log of one installation (hooks API): deliveries newest first, each with every
// attempt, filtered by status and event, in keyset pages; replay one finished delivery or
// every finished delivery of a time window.
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api, describeError, newIdempotencyKey } from "../api/client";
import type { Delivery, DeliveryPage, DeliveryStatus, HookEventList, ReplayAccepted, ReplayWindow } from "../api/types";
import { SelectField } from "./SelectField";
import { Empty, Failed, Loading } from "./States";

const STATUSES: DeliveryStatus[] = ["pending", "succeeded", "failed", "dead_lettered", "cancelled"];
export const STATUS_LABELS: Record<DeliveryStatus, string> = {
  pending: "Pending",
  succeeded: "Succeeded",
  failed: "Failed",
  dead_lettered: "Dead-lettered",
  cancelled: "Cancelled",
};
const when = (iso: string) => new Date(iso).toLocaleString();
const hooksPath = (pluginId: string) => `/plugins/${encodeURIComponent(pluginId)}/hooks`;

/** datetime-local's value (local time, minutes) for a moment. */
function localInput(date: Date): string {
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

export function DeliveryLog({ pluginId, slug, pageSize = 20, refetchMs = 3000 }: { pluginId: string; slug: string; pageSize?: number; refetchMs?: number }) {
  const [status, setStatus] = useState<DeliveryStatus | "">("");
  const [eventType, setEventType] = useState("");
  const events = useQuery({ queryKey: ["hook-events"], queryFn: () => api<HookEventList>("/hooks/events") });
  const pages = useInfiniteQuery({
    queryKey: ["deliveries", pluginId, status, eventType],
    queryFn: ({ pageParam }) =>
      api<DeliveryPage>(`${hooksPath(pluginId)}/deliveries`, {
        query: { status, event_type: eventType, cursor: pageParam, limit: pageSize },
      }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    refetchInterval: refetchMs,
  });
  const items = pages.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <div className="delivery-log">
      <div className="filters" role="group" aria-label="Filter deliveries">
        <SelectField label="Status" value={status} onChange={(v) => setStatus(v as DeliveryStatus | "")}>
          <option value="">Any status</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {STATUS_LABELS[s]}
            </option>
          ))}
        </SelectField>
        <SelectField label="Event" value={eventType} onChange={setEventType}>
          <option value="">Any event</option>
          {(events.data?.items ?? []).map((e) => (
            <option key={e.name} value={e.name}>
              {e.name}
            </option>
          ))}
        </SelectField>
      </div>
      {pages.isPending && <Loading what="deliveries" />}
      {pages.isError && <Failed error={pages.error} what="deliveries" />}
      {pages.data && items.length === 0 && (
        <Empty>{status || eventType ? "No delivery matches these filters." : `No event was delivered to ${slug} yet.`}</Empty>
      )}
      {items.length > 0 && (
        <ul className="deliveries" aria-label={`Deliveries to ${slug}`}>
          {items.map((d) => (
            <DeliveryItem key={d.id} pluginId={pluginId} delivery={d} />
          ))}
        </ul>
      )}
      {pages.hasNextPage && (
        <button type="button" className="secondary" disabled={pages.isFetchingNextPage} onClick={() => pages.fetchNextPage()}>
          {pages.isFetchingNextPage ? "Loading older deliveries…" : "Older deliveries"}
        </button>
      )}
      <ReplayWindowForm pluginId={pluginId} />
    </div>
  );
}

function DeliveryItem({ pluginId, delivery: d }: { pluginId: string; delivery: Delivery }) {
  const client = useQueryClient();
  const replay = useMutation({
    mutationFn: () =>
      api<Delivery>(`${hooksPath(pluginId)}/deliveries/${d.id}/replay`, { method: "POST", headers: { "Idempotency-Key": newIdempotencyKey() } }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["deliveries", pluginId] }),
  });
  // `attempts` counts the current retry schedule (a replay starts a new one); the log keeps
  // every attempt ever made.
  const total = Math.max(d.attempts, d.attempt_log.length);
  return (
    <li className="delivery" data-delivery={d.id} aria-labelledby={`delivery-${d.id}`}>
      <h3 id={`delivery-${d.id}`}>
        {d.event_type} <span className={`delivery-status status-${d.status}`}>{STATUS_LABELS[d.status]}</span>
      </h3>
      <p className="meta">
        {when(d.created_at)} · {d.target === "handler" ? "handler" : "webhook"} · {total} attempt{total === 1 ? "" : "s"}
        {d.last_status_code ? ` · last answer ${d.last_status_code}` : ""}
        {d.next_attempt_at ? ` · next attempt ${when(d.next_attempt_at)}` : ""}
      </p>
      {d.last_error && <p className="reason">Last error: {d.last_error}</p>}
      {d.attempt_log.length > 0 && (
        <details>
          <summary>Attempts of this delivery</summary>
          <table>
            <caption className="visually-hidden">Attempts of delivery {d.id}</caption>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">Started</th>
                <th scope="col">Outcome</th>
                <th scope="col">Answer</th>
                <th scope="col">Latency</th>
              </tr>
            </thead>
            <tbody>
              {d.attempt_log.map((a, index) => (
                <tr key={index}>
                  <td>{index + 1}</td>
                  <td>{when(a.started_at)}</td>
                  <td>
                    {a.outcome}
                    {a.cause && a.cause !== "ok" ? ` (${a.cause})` : ""}
                    {a.error ? `: ${a.error}` : ""}
                  </td>
                  <td>{a.status_code ?? "none"}</td>
                  <td>{a.latency_ms.toFixed(0)} ms</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
      {d.status !== "pending" && (
        <button type="button" className="secondary" disabled={replay.isPending} onClick={() => replay.mutate()}>
          Replay <span className="visually-hidden">the {d.event_type} delivery of {when(d.created_at)}</span>
        </button>
      )}
      {replay.isSuccess && <p role="status">Sent again: a new attempt is on its way.</p>}
      {replay.isError && (
        <p role="alert" className="error">
          {describeError(replay.error)}
        </p>
      )}
    </li>
  );
}

function ReplayWindowForm({ pluginId }: { pluginId: string }) {
  const client = useQueryClient();
  const [since, setSince] = useState(() => localInput(new Date(Date.now() - 3600_000)));
  const [status, setStatus] = useState<ReplayWindow["status"] | "">("failed");
  const replay = useMutation({
    mutationFn: (body: ReplayWindow) =>
      api<ReplayAccepted>(`${hooksPath(pluginId)}/replay`, { method: "POST", body, headers: { "Idempotency-Key": newIdempotencyKey() } }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["deliveries", pluginId] }),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    replay.mutate({ since: new Date(since).toISOString(), status: status || null });
  };
  return (
    <form className="panel" onSubmit={submit} aria-labelledby={`replay-window-${pluginId}`}>
      <h3 id={`replay-window-${pluginId}`}>Replay a time window</h3>
      <label>
        Deliveries created since
        <input type="datetime-local" required value={since} onChange={(e) => setSince(e.target.value)} />
      </label>
      <SelectField label="Only those that" value={status ?? ""} onChange={(v) => setStatus(v as ReplayWindow["status"] | "")}>
        <option value="">Finished in any way</option>
        <option value="succeeded">Succeeded</option>
        <option value="failed">Failed</option>
        <option value="dead_lettered">Were dead-lettered</option>
        <option value="cancelled">Were cancelled</option>
      </SelectField>
      <button type="submit" disabled={replay.isPending}>
        Replay the window
      </button>
      {replay.isSuccess && (
        <p role="status">
          {replay.data.count} {replay.data.count === 1 ? "delivery" : "deliveries"} queued again.
        </p>
      )}
      {replay.isError && (
        <p role="alert" className="error">
          {describeError(replay.error)}
        </p>
      )}
    </form>
  );
}
