// A plugin's versions (newest first) with a yank action: a reason, then the yank; yanked ones
// are marked with their reason. Owners (developer portal) and platform admins (moderation) both
// yank through PUT /admin/plugins/{id}/versions/{version}/yank.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState, type FormEvent } from "react";
import { api } from "../api/client";
import type { VersionPage, YankedVersion } from "../api/types";
import { Refusal } from "./Refusal";
import { Empty, Failed, Loading } from "./States";

export function Versions({ slug, onYanked }: { slug: string; onYanked?: () => void }) {
  const client = useQueryClient();
  const versions = useQuery({
    queryKey: ["versions", slug],
    queryFn: () => api<VersionPage>(`/plugins/marketplace/${encodeURIComponent(slug)}/versions`),
    retry: false,
  });
  const [yanking, setYanking] = useState<string | null>(null);
  const [reason, setReason] = useState("");
  // A cancelled yank hands focus back to the version's yank button.
  const triggers = useRef(new Map<string, HTMLButtonElement | null>());
  const returnTo = useRef<string | null>(null);
  useEffect(() => {
    if (yanking === null && returnTo.current) triggers.current.get(returnTo.current)?.focus();
    returnTo.current = null;
  }, [yanking]);
  const cancel = () => {
    returnTo.current = yanking;
    setYanking(null);
  };
  const yank = useMutation({
    mutationFn: (version: string) =>
      api<YankedVersion>(`/admin/plugins/${encodeURIComponent(slug)}/versions/${encodeURIComponent(version)}/yank`, {
        method: "PUT",
        body: { reason: reason.trim() },
      }),
    onSuccess: () => {
      setYanking(null);
      setReason("");
      onYanked?.();
      return client.invalidateQueries({ queryKey: ["versions", slug] });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (yanking) yank.mutate(yanking);
  };
  if (versions.isPending) return <Loading what={`versions of ${slug}`} />;
  if (versions.isError) return <Failed error={versions.error} what={`versions of ${slug}`} />;
  if (versions.data.items.length === 0) return <Empty>No version uploaded yet.</Empty>;
  return (
    <>
      <div className="table-scroll">
        <table className="versions">
          <caption className="visually-hidden">Versions of {slug}</caption>
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Published</th>
              <th scope="col">Signed</th>
              <th scope="col">Status</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {versions.data.items.map((v) => (
              <tr key={v.version} data-version={v.version}>
                <td>{v.version}</td>
                <td>{new Date(v.published_at).toLocaleString()}</td>
                <td>{v.signed ? "Signed" : "Not signed"}</td>
                <td className="reason">{v.yanked ? `Yanked: ${v.yank_reason ?? ""}` : "Available"}</td>
                <td>
                  {!v.yanked && (
                    <button
                      type="button"
                      className="secondary"
                      ref={(el) => void triggers.current.set(v.version, el)}
                      onClick={() => (yank.reset(), setYanking(v.version))}
                    >
                      Yank {v.version}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {yanking && (
        <form
          className="confirm"
          onSubmit={submit}
          aria-label={`Yank ${slug} ${yanking}`}
          onKeyDown={(e) => e.key === "Escape" && cancel()}
        >
          <p>
            Yanking {slug} {yanking} stops new installs of it; installations pinned to it keep working.
          </p>
          <label>
            Reason for yanking {yanking}
            <input required autoFocus value={reason} onChange={(e) => setReason(e.target.value)} />
          </label>
          <Refusal error={yank.error} />
          <div className="actions">
            <button type="submit" className="danger" disabled={yank.isPending || !reason.trim()}>
              Yank {yanking}
            </button>
            <button type="button" className="secondary" onClick={cancel}>
              Cancel
            </button>
          </div>
        </form>
      )}
      {yank.isSuccess && (
        <p role="status">
          Yanked {yank.data.version}
          {yank.data.latest_version ? `; the latest version is now ${yank.data.latest_version}` : ""}.
        </p>
      )}
    </>
  );
}
