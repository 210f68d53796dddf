// Review moderation for platform admins: a plugin's reviews, hidden ones included, each
// hidden or shown again with a reason kept in its moderation log.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api, describeError, newIdempotencyKey } from "../api/client";
import type { HideRequest, ReviewModerationLog, ReviewPage, ReviewRead } from "../api/types";
import { Empty, Failed, Loading } from "./States";

export function ReviewModeration({ slug }: { slug: string }) {
  const reviews = useQuery({
    queryKey: ["reviews", slug, "moderation"],
    queryFn: () => api<ReviewPage>(`/plugins/marketplace/${encodeURIComponent(slug)}/reviews`, { query: { sort: "newest", limit: 50 } }),
    retry: false,
  });
  return (
    <section aria-labelledby="review-moderation-title">
      <h2 id="review-moderation-title">Reviews of {slug}</h2>
      {reviews.isPending && <Loading what="reviews" />}
      {reviews.isError && <Failed error={reviews.error} what="reviews" />}
      {reviews.data && reviews.data.items.length === 0 && <Empty>Nobody reviewed {slug} yet.</Empty>}
      {reviews.data && reviews.data.items.length > 0 && (
        <ul className="review-list">
          {reviews.data.items.map((r) => (
            <ModeratedReview key={r.id} slug={slug} review={r} />
          ))}
        </ul>
      )}
    </section>
  );
}

function ModeratedReview({ slug, review: r }: { slug: string; review: ReviewRead }) {
  const client = useQueryClient();
  const [reason, setReason] = useState("");
  const [showLog, setShowLog] = useState(false);
  const hide = useMutation({
    mutationFn: (body: HideRequest) =>
      api<ReviewRead>(`/admin/reviews/${r.id}/hide`, { method: "PUT", body, headers: { "Idempotency-Key": newIdempotencyKey() } }),
    onSuccess: () => {
      setReason("");
      return Promise.all([
        client.invalidateQueries({ queryKey: ["reviews", slug] }),
        client.invalidateQueries({ queryKey: ["review-moderation", r.id] }),
        client.invalidateQueries({ queryKey: ["plugin", slug] }),
      ]);
    },
  });
  const log = useQuery({
    queryKey: ["review-moderation", r.id],
    queryFn: () => api<ReviewModerationLog>(`/admin/reviews/${r.id}/moderation`),
    enabled: showLog,
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    hide.mutate({ hidden: !r.hidden, reason: reason.trim() });
  };
  const action = r.hidden ? "Show" : "Hide";
  return (
    <li className="review" aria-labelledby={`moderated-${r.id}`}>
      <h3 id={`moderated-${r.id}`}>
        {r.title} <span aria-hidden="true">{"★".repeat(r.rating)}</span>
        <span className="visually-hidden">{r.rating} out of 5</span>
        {r.hidden && <span className="badge badge-deprecated">Hidden</span>}
      </h3>
      <p>{r.body}</p>
      <p className="meta">
        By {r.user_id} · version {r.version} · {new Date(r.created_at).toLocaleDateString()}
        {r.hidden && r.hidden_reason ? ` · hidden: ${r.hidden_reason}` : ""}
      </p>
      <form className="inline-form" onSubmit={submit} aria-label={`${action} the review "${r.title}"`}>
        <label>
          Reason to {action.toLowerCase()} it
          <input value={reason} onChange={(e) => setReason(e.target.value)} />
        </label>
        <button type="submit" className={r.hidden ? "secondary" : "danger"} disabled={!reason.trim() || hide.isPending}>
          {action} review
        </button>
      </form>
      {hide.isError && (
        <p role="alert" className="error">
          {describeError(hide.error)}
        </p>
      )}
      <button type="button" className="link" aria-expanded={showLog} onClick={() => setShowLog(!showLog)}>
        {showLog ? "Hide the moderation log" : "Moderation log"}
      </button>
      {showLog && log.isPending && <Loading what="the review's moderation log" />}
      {showLog && log.isError && <Failed error={log.error} what="the review's moderation log" />}
      {showLog && log.data && log.data.items.length === 0 && <Empty>Never moderated.</Empty>}
      {showLog && log.data && log.data.items.length > 0 && (
        <ul aria-label={`Moderation log of the review "${r.title}"`}>
          {log.data.items.map((entry) => (
            <li key={entry.id}>
              {new Date(entry.created_at).toLocaleString()}: {entry.action} by {entry.actor_id}: {entry.reason}
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}
