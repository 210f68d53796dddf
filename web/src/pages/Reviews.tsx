// A plugin's reviews: the summary and histogram, sorts, helpful votes, developer replies and,
// for a signed-in member, the form to write one (the service decides who may).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api, describeError } from "../api/client";
import type { ReviewPage, ReviewRead, ReviewSort, ReviewWrite } from "../api/types";
import { useSession } from "../auth";
import { Stars } from "../components/Badges";
import { RatingHistogram } from "../components/RatingHistogram";
import { SelectField } from "../components/SelectField";
import { Empty, Failed, Loading } from "../components/States";

const SORTS: ReviewSort[] = ["newest", "helpful", "highest", "lowest"];

export function Reviews({ slug }: { slug: string }) {
  const [sort, setSort] = useState<ReviewSort>("newest");
  const session = useSession();
  const page = useQuery({
    queryKey: ["reviews", slug, sort],
    queryFn: () => api<ReviewPage>(`/plugins/marketplace/${encodeURIComponent(slug)}/reviews`, { query: { sort } }),
  });
  if (page.isPending) return <Loading what="reviews" />;
  if (page.isError) return <Failed error={page.error} what="reviews" />;
  const { summary, items } = page.data;
  return (
    <div className="reviews">
      <p className="summary" data-testid="review-summary">
        <Stars average={summary.average} count={summary.count} />
      </p>
      <RatingHistogram histogram={summary.histogram} label={`How ${summary.count} reviewers rated it`} />
      {session.has("member") && <WriteReview slug={slug} />}
      <SelectField label="Sort reviews" value={sort} onChange={(v) => setSort(v as ReviewSort)}>
        {SORTS.map((s) => (
          <option key={s}>{s}</option>
        ))}
      </SelectField>
      {items.length === 0 ? (
        <Empty>No reviews yet.</Empty>
      ) : (
        <ul className="review-list">
          {items.map((r) => (
            <Review key={r.id} slug={slug} review={r} canVote={session.has("member")} />
          ))}
        </ul>
      )}
    </div>
  );
}

function Review({ slug, review, canVote }: { slug: string; review: ReviewRead; canVote: boolean }) {
  const client = useQueryClient();
  const vote = useMutation({
    mutationFn: () => api(`/plugins/marketplace/${encodeURIComponent(slug)}/reviews/${review.id}/helpful`, { method: "POST" }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["reviews", slug] }),
  });
  return (
    <li className="review">
      <h3>
        {review.title} <span className="rating">{"★".repeat(review.rating)}</span>
        <span className="visually-hidden">{review.rating} out of 5</span>
      </h3>
      <p>{review.body}</p>
      <p className="meta">
        Version {review.version} · {new Date(review.created_at).toLocaleDateString()} · {review.helpful_count} found this helpful
      </p>
      {review.reply && (
        <blockquote className="reply">
          <strong>Developer reply:</strong> {review.reply.body}
        </blockquote>
      )}
      {canVote && (
        <button type="button" className="secondary" disabled={vote.isPending} onClick={() => vote.mutate()}>
          Helpful
        </button>
      )}
      {vote.isError && <span role="alert">{describeError(vote.error)}</span>}
    </li>
  );
}

function WriteReview({ slug }: { slug: string }) {
  const client = useQueryClient();
  const [draft, setDraft] = useState<ReviewWrite>({ rating: 5, title: "", body: "" });
  const write = useMutation({
    mutationFn: (review: ReviewWrite) =>
      api<ReviewRead>(`/plugins/marketplace/${encodeURIComponent(slug)}/reviews`, { method: "POST", body: review }),
    onSuccess: () => {
      setDraft({ rating: 5, title: "", body: "" });
      return Promise.all([
        client.invalidateQueries({ queryKey: ["reviews", slug] }),
        client.invalidateQueries({ queryKey: ["plugin", slug] }),
      ]);
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    write.mutate(draft);
  };
  return (
    <form className="write-review" onSubmit={submit} aria-labelledby="write-review-title">
      <h3 id="write-review-title">Write a review</h3>
      <SelectField label="Rating" value={draft.rating} onChange={(v) => setDraft({ ...draft, rating: Number(v) })}>
        {[5, 4, 3, 2, 1].map((n) => (
          <option key={n} value={n}>
            {n} star{n === 1 ? "" : "s"}
          </option>
        ))}
      </SelectField>
      <label>
        Title
        <input required value={draft.title} onChange={(e) => setDraft({ ...draft, title: e.target.value })} />
      </label>
      <label>
        Review
        <textarea required value={draft.body} onChange={(e) => setDraft({ ...draft, body: e.target.value })} />
      </label>
      {write.isError && (
        <div role="alert" className="error">
          {describeError(write.error)}
        </div>
      )}
      {write.isSuccess && <p role="status">Thank you: your review is published.</p>}
      <button type="submit" disabled={write.isPending}>
        Publish review
      </button>
    </form>
  );
}
