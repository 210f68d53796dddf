// Rotating an installation's webhook signing secret (tenant admins): the new secret is shown
// once, in this answer only; the previous one keeps signing for a while, so receivers can
// switch without losing deliveries.
import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import { api, describeError, newIdempotencyKey } from "../api/client";
import type { SecretRotated } from "../api/types";

export function WebhookSecret({ pluginId, slug }: { pluginId: string; slug: string }) {
  const [confirming, setConfirming] = useState(false);
  const [copied, setCopied] = useState(false);
  const [key] = useState(newIdempotencyKey);
  const rotate = useMutation({
    mutationFn: () =>
      api<SecretRotated>(`/plugins/${encodeURIComponent(pluginId)}/hooks/secret/rotate`, { method: "POST", headers: { "Idempotency-Key": key } }),
    onSuccess: () => setConfirming(false),
  });
  const copy = async (secret: string) => {
    await navigator.clipboard?.writeText(secret);
    setCopied(true);
  };
  if (rotate.data)
    return (
      <div className="panel secret">
        <p className="warning" role="status">
          The new signing secret of {slug} is shown only this once: store it in your receiver now.
        </p>
        <label>
          New signing secret
          <input readOnly value={rotate.data.secret} onFocus={(e) => e.target.select()} className="monospace" />
        </label>
        <button type="button" className="secondary" onClick={() => copy(rotate.data.secret)}>
          {copied ? "Copied" : "Copy the secret"}
        </button>
        <p>
          {rotate.data.previous_valid_until
            ? `The previous secret also signs until ${new Date(rotate.data.previous_valid_until).toLocaleString()}.`
            : "There was no previous secret."}
        </p>
      </div>
    );
  return (
    <div className="secret">
      <p>Webhook deliveries to {slug} are signed (Standard Webhooks). Rotate the secret when it may have leaked.</p>
      {!confirming ? (
        <button type="button" className="secondary" onClick={() => setConfirming(true)}>
          Rotate the signing secret
        </button>
      ) : (
        <div className="actions" role="group" aria-label="Confirm the rotation">
          <p>A new secret signs from now on; the current one keeps signing for 24 hours.</p>
          <button type="button" className="secondary" onClick={() => setConfirming(false)}>
            Cancel
          </button>
          <button type="button" disabled={rotate.isPending} onClick={() => rotate.mutate()}>
            Rotate now
          </button>
        </div>
      )}
      {rotate.isError && (
        <p role="alert" className="error">
          {describeError(rotate.error)}
        </p>
      )}
    </div>
  );
}
