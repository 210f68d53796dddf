// The developer's signing keys: the list (revoked ones marked), register an ed25519 public key
// (base64 of the raw 32 bytes, or PEM) with the server's refusal shown as it gave it, and revoke
// a key after a confirmation step.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState, type FormEvent } from "react";
import { api } from "../api/client";
import type { PublisherKeyList, PublisherKeyRead } from "../api/types";
import { Refusal } from "./Refusal";
import { Empty, Failed, Loading } from "./States";

const KEYS = "/plugins/publishers/me/keys";

export function SigningKeys() {
  const client = useQueryClient();
  const keys = useQuery({ queryKey: ["signing-keys"], queryFn: () => api<PublisherKeyList>(KEYS) });
  const [publicKey, setPublicKey] = useState("");
  const [confirming, setConfirming] = useState<string | null>(null);
  // A cancelled confirmation hands focus back to the key's revoke button.
  const triggers = useRef(new Map<string, HTMLButtonElement | null>());
  const returnTo = useRef<string | null>(null);
  useEffect(() => {
    if (confirming === null && returnTo.current) triggers.current.get(returnTo.current)?.focus();
    returnTo.current = null;
  }, [confirming]);
  const cancel = (keyId: string) => {
    revoke.reset();
    returnTo.current = keyId;
    setConfirming(null);
  };
  const refresh = () => client.invalidateQueries({ queryKey: ["signing-keys"] });
  const add = useMutation({
    mutationFn: (key: string) => api<PublisherKeyRead>(KEYS, { method: "POST", body: { public_key: key } }),
    onSuccess: () => {
      setPublicKey("");
      return refresh();
    },
  });
  const revoke = useMutation({
    mutationFn: (keyId: string) => api<PublisherKeyRead>(`${KEYS}/${encodeURIComponent(keyId)}`, { method: "DELETE" }),
    onSuccess: () => {
      setConfirming(null);
      return refresh();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    revoke.reset();
    add.mutate(publicKey.trim());
  };
  return (
    <section className="panel" aria-labelledby="keys-title">
      <h2 id="keys-title">Signing keys</h2>
      <p className="meta">Installs need packages signed with one of your active keys (ed25519 over the package's sha-256 digest).</p>
      {keys.isPending && <Loading what="your signing keys" />}
      {keys.isError && <Failed error={keys.error} what="your signing keys" />}
      {keys.data && keys.data.items.length === 0 && <Empty>No signing key registered yet.</Empty>}
      {keys.data && keys.data.items.length > 0 && (
        <ul className="key-list" aria-label="Your signing keys">
          {keys.data.items.map((k) => (
            <li key={k.key_id} aria-label={`Key ${k.fingerprint}`}>
              <code className="fingerprint">{k.fingerprint}</code>{" "}
              <span className="meta">
                {k.algorithm} · added {new Date(k.created_at).toLocaleString()} ·{" "}
                {k.revoked_at ? <strong>Revoked {new Date(k.revoked_at).toLocaleString()}</strong> : "Active"}
              </span>
              {!k.revoked_at && confirming !== k.key_id && (
                <div className="actions">
                  <button
                    type="button"
                    className="secondary"
                    ref={(el) => void triggers.current.set(k.key_id, el)}
                    onClick={() => (add.reset(), setConfirming(k.key_id))}
                  >
                    Revoke key {k.fingerprint}
                  </button>
                </div>
              )}
              {confirming === k.key_id && (
                <div
                  role="group"
                  aria-label={`Confirm revoking ${k.fingerprint}`}
                  className="confirm"
                  onKeyDown={(e) => e.key === "Escape" && cancel(k.key_id)}
                >
                  <p>Packages signed only with this key no longer verify for new installs. Revoke it?</p>
                  <div className="actions">
                    <button type="button" className="danger" disabled={revoke.isPending} onClick={() => revoke.mutate(k.key_id)}>
                      Yes, revoke
                    </button>
                    {/* Focus lands on the safe choice; Escape cancels too. */}
                    <button type="button" className="secondary" autoFocus onClick={() => cancel(k.key_id)}>
                      Cancel
                    </button>
                  </div>
                </div>
              )}
            </li>
          ))}
        </ul>
      )}
      <Refusal error={revoke.error} />
      {revoke.isSuccess && <p role="status">Key {revoke.data.fingerprint} revoked.</p>}
      <form onSubmit={submit} aria-label="Register a signing key">
        <label>
          Public key (base64 of the raw 32 bytes, or PEM)
          <textarea required rows={3} value={publicKey} onChange={(e) => setPublicKey(e.target.value)} />
        </label>
        <Refusal error={add.error} />
        {add.isSuccess && <p role="status">Key {add.data.fingerprint} registered.</p>}
        <button type="submit" disabled={add.isPending || !publicKey.trim()}>
          Register key
        </button>
      </form>
    </section>
  );
}
