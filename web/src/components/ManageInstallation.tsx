// Managing one installation from the dashboard: its configuration (the version's schema,
// secrets masked, the server's field errors on their fields), the upgrade to the latest
// version (consent asked only for the permissions it adds) and the uninstall, which names the
// installed plugins that depend on it.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, ApiError, describeError, newIdempotencyKey } from "../api/client";
import type { Cascade, FieldError, Installation, PluginDetail, UpgradeCreate } from "../api/types";
import { describePermission } from "../permissions";
import { ConfigForm } from "./ConfigForm";
import { configErrorsByPlugin } from "./InstallWizard";
import { Empty } from "./States";

const path = (slug: string, action: string) => `/plugins/${encodeURIComponent(slug)}/${action}`;

function hasFields(schema: unknown): schema is Record<string, unknown> {
  const props = (schema as { properties?: object } | null)?.properties;
  return !!props && Object.keys(props).length > 0;
}

/** The permissions the new version asks for that the installation was not granted. */
export function newPermissions(installation: Pick<Installation, "granted_permissions">, wanted: string[]): string[] {
  const granted = new Set(installation.granted_permissions);
  return wanted.filter((p) => !granted.has(p));
}

/** The installed plugins that depend on `slug`. */
export function dependentsOf(slug: string, all: Installation[]): string[] {
  return all.filter((i) => i.plugin !== slug && Object.hasOwn(i.dependencies ?? {}, slug)).map((i) => i.plugin);
}

export function ConfigSection({ installation, detail }: { installation: Installation; detail: PluginDetail }) {
  const client = useQueryClient();
  const slug = installation.plugin;
  const [data, setData] = useState<Record<string, unknown>>(installation.config ?? {});
  const [errors, setErrors] = useState<FieldError[]>([]);
  const save = useMutation({
    mutationFn: (config: Record<string, unknown>) =>
      api<Installation>(path(slug, "config"), { method: "PUT", body: { config }, headers: { "Idempotency-Key": newIdempotencyKey() } }),
    onSuccess: (saved) => {
      setErrors([]);
      setData(saved.config ?? {});
      return client.invalidateQueries({ queryKey: ["installed"] });
    },
    onError: (e) => setErrors(e instanceof ApiError ? (configErrorsByPlugin(slug, e.fieldErrors())[slug] ?? []) : []),
  });
  const schema = detail.latest?.config_schema;
  if (!hasFields(schema)) return <Empty>{slug} has no settings.</Empty>;
  return (
    <div className="config-section">
      {detail.latest && detail.latest.version !== installation.version && (
        <p className="warning">The form follows version {detail.latest.version}'s settings; upgrade to use them all.</p>
      )}
      <p className="meta">Secrets are never shown: a stored one reads as ********. Leave it to keep it, or type a new one.</p>
      <ConfigForm
        id={`manage-${slug}`}
        schema={schema}
        formData={data}
        serverErrors={errors}
        onChange={setData}
        onSubmit={(config) => save.mutate(config)}
      >
        <div className="actions">
          <button type="submit" disabled={save.isPending}>
            {save.isPending ? "Saving…" : "Save configuration"}
          </button>
        </div>
      </ConfigForm>
      {save.isError && (
        <div role="alert" className="error">
          {describeError(save.error)}
        </div>
      )}
      {save.isSuccess && <p role="status">Configuration saved.</p>}
    </div>
  );
}

export function UpgradeSection({ installation, detail }: { installation: Installation; detail: PluginDetail }) {
  const client = useQueryClient();
  const slug = installation.plugin;
  const latest = detail.latest;
  const [consented, setConsented] = useState(false);
  const [key] = useState(newIdempotencyKey);
  const adds = latest ? newPermissions(installation, latest.permissions) : [];
  const upgrade = useMutation({
    mutationFn: (body: UpgradeCreate) => api<Installation>(path(slug, "upgrade"), { method: "POST", body, headers: { "Idempotency-Key": key } }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["installed"] }),
  });
  if (installation.target_version)
    return (
      <p role="status">
        Upgrading from {installation.version} to {installation.target_version}…
      </p>
    );
  if (!latest || latest.version === installation.version) return <Empty>Version {installation.version} is the latest.</Empty>;
  if (upgrade.isSuccess && upgrade.data.version === latest.version) return <p role="status">Upgraded to {latest.version}.</p>;
  return (
    <div className="upgrade">
      <p>
        <span className="badge badge-featured">Update available</span> Version {latest.version} replaces {installation.version}.
      </p>
      {latest.changelog && <p>{latest.changelog}</p>}
      {adds.length === 0 ? (
        <p>It asks for no new permission.</p>
      ) : (
        <fieldset>
          <legend>Version {latest.version} asks for new permissions</legend>
          <ul>
            {adds.map((p) => (
              <li key={p}>
                {describePermission(p)} <code>{p}</code>
              </li>
            ))}
          </ul>
          <label className="check">
            <input type="checkbox" checked={consented} onChange={(e) => setConsented(e.target.checked)} />
            I grant {adds.length === 1 ? "this new permission" : `these ${adds.length} new permissions`}
          </label>
        </fieldset>
      )}
      <div className="actions">
        <button
          type="button"
          disabled={upgrade.isPending || (adds.length > 0 && !consented)}
          onClick={() => upgrade.mutate({ version: latest.version, accept_permissions: adds as UpgradeCreate["accept_permissions"] })}
        >
          {upgrade.isPending ? "Upgrading…" : `Upgrade to ${latest.version}`}
        </button>
      </div>
      {upgrade.isError && (
        <div role="alert" className="error">
          The upgrade was refused: {describeError(upgrade.error)}
        </div>
      )}
      {upgrade.isSuccess && <p role="status">Upgrade to {latest.version} started.</p>}
    </div>
  );
}

export function UninstallSection({ installation, all, onDone }: { installation: Installation; all: Installation[]; onDone: () => void }) {
  const client = useQueryClient();
  const slug = installation.plugin;
  const dependents = dependentsOf(slug, all);
  const [cascade, setCascade] = useState<Cascade>("disable");
  const [confirming, setConfirming] = useState(false);
  const uninstall = useMutation({
    mutationFn: () =>
      api<Installation>(path(slug, "uninstall"), {
        method: "POST",
        body: { cascade: dependents.length ? cascade : "none" },
        headers: { "Idempotency-Key": newIdempotencyKey() },
      }),
    onSuccess: () => {
      onDone();
      return client.invalidateQueries({ queryKey: ["installed"] });
    },
  });
  return (
    <div className="uninstall">
      {dependents.length > 0 ? (
        <div className="warning" role="note">
          <p>
            {dependents.length === 1 ? "This installed plugin depends" : "These installed plugins depend"} on {slug}:{" "}
            <strong>{dependents.join(", ")}</strong>.
          </p>
          <fieldset>
            <legend>What happens to them</legend>
            <label className="check">
              <input type="radio" name="cascade" checked={cascade === "disable"} onChange={() => setCascade("disable")} />
              Disable them
            </label>
            <label className="check">
              <input type="radio" name="cascade" checked={cascade === "uninstall"} onChange={() => setCascade("uninstall")} />
              Uninstall them too
            </label>
          </fieldset>
        </div>
      ) : (
        <p>No installed plugin depends on {slug}.</p>
      )}
      {!confirming ? (
        <button type="button" className="danger" onClick={() => setConfirming(true)}>
          Uninstall {slug}
        </button>
      ) : (
        <div className="actions" role="group" aria-label="Confirm the uninstall">
          <p>
            Uninstall {slug}
            {dependents.length ? ` and ${cascade === "disable" ? "disable" : "uninstall"} ${dependents.join(", ")}` : ""}? Its
            configuration and secrets are deleted.
          </p>
          <button type="button" className="secondary" onClick={() => setConfirming(false)}>
            Cancel
          </button>
          <button type="button" className="danger" disabled={uninstall.isPending} onClick={() => uninstall.mutate()}>
            Yes, uninstall {slug}
          </button>
        </div>
      )}
      {uninstall.isError && (
        <div role="alert" className="error">
          {describeError(uninstall.error)}
        </div>
      )}
    </div>
  );
}
