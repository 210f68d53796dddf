// The developer portal: register a plugin, upload a version with progress and readable
// refusals, manage signing keys, and see each plugin's versions (yank one) and analytics charts.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link } from "react-router-dom";
import { api, upload } from "../api/client";
import type { Category, PluginCreate, PluginPage, PluginRead, PluginType, VersionPublished } from "../api/types";
import { useSession } from "../auth";
import { Analytics } from "../components/Analytics";
import { Refusal } from "../components/Refusal";
import { SigningKeys } from "../components/SigningKeys";
import { Versions } from "../components/Versions";
import { SelectField } from "../components/SelectField";
import { Empty, Failed, Loading } from "../components/States";

const TYPES: PluginType[] = ["backend", "frontend", "hybrid", "container", "theme"];
const CATEGORIES: Category[] = ["monitoring", "integration", "analytics", "security", "automation", "notification", "reporting", "storage", "networking", "devops", "ai", "theme", "other"];

export function Developer() {
  const session = useSession();
  const mine = useQuery({
    queryKey: ["my-plugins"],
    queryFn: () => api<PluginPage>("/plugins/publishers/me/plugins", { query: { limit: 100 } }),
    enabled: session.has("developer"),
  });
  if (!session.has("developer"))
    return (
      <section>
        <h1>Developer portal</h1>
        <p>
          <Link to="/sign-in">Sign in</Link> as a developer to publish plugins.
        </p>
      </section>
    );
  return (
    <section aria-labelledby="developer-title">
      <h1 id="developer-title">Developer portal</h1>
      <div className="two-columns">
        <Register />
        <Upload plugins={mine.data?.items ?? []} />
      </div>
      <SigningKeys />
      <h2>Your plugins</h2>
      {mine.isPending && <Loading what="your plugins" />}
      {mine.isError && <Failed error={mine.error} what="your plugins" />}
      {mine.data && mine.data.items.length === 0 && <Empty>You have not registered a plugin yet.</Empty>}
      {mine.data && mine.data.items.map((p) => <MyPlugin key={p.id} plugin={p} />)}
    </section>
  );
}

function Register() {
  const client = useQueryClient();
  const [draft, setDraft] = useState<PluginCreate>({ slug: "", name: "", description: "", type: "backend", category: "monitoring" });
  const register = useMutation({
    mutationFn: (body: PluginCreate) => api<PluginRead>("/plugins/register", { method: "POST", body }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["my-plugins"] }),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    register.mutate(draft);
  };
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="register-title">
      <h2 id="register-title">Register a plugin</h2>
      <label>
        Slug
        <input required value={draft.slug} onChange={(e) => setDraft({ ...draft, slug: e.target.value })} />
      </label>
      <label>
        Name
        <input required value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.target.value })} />
      </label>
      <label>
        Description
        <textarea value={draft.description} onChange={(e) => setDraft({ ...draft, description: e.target.value })} />
      </label>
      <SelectField label="Type" value={draft.type} onChange={(v) => setDraft({ ...draft, type: v as PluginType })}>
        {TYPES.map((t) => (
          <option key={t}>{t}</option>
        ))}
      </SelectField>
      <SelectField label="Category" value={draft.category} onChange={(v) => setDraft({ ...draft, category: v as Category })}>
        {CATEGORIES.map((c) => (
          <option key={c}>{c}</option>
        ))}
      </SelectField>
      <Refusal error={register.error} />
      {register.isSuccess && <p role="status">Registered {register.data.slug}.</p>}
      <button type="submit" disabled={register.isPending}>
        Register
      </button>
    </form>
  );
}

function Upload({ plugins }: { plugins: PluginRead[] }) {
  const client = useQueryClient();
  const [file, setFile] = useState<File | null>(null);
  const [plugin, setPlugin] = useState("");
  const [signature, setSignature] = useState("");
  const [progress, setProgress] = useState(0);
  const send = useMutation({
    mutationFn: () => {
      const form = new FormData();
      form.append("package", file!);
      if (plugin) form.append("plugin", plugin);
      if (signature.trim()) form.append("signature", signature.trim());
      setProgress(0);
      return upload<VersionPublished>("/plugins/upload", form, setProgress);
    },
    onSuccess: (v) =>
      Promise.all([
        client.invalidateQueries({ queryKey: ["my-plugins"] }),
        client.invalidateQueries({ queryKey: ["versions", v.slug] }),
      ]),
  });
  return (
    <form className="panel" onSubmit={(e) => (e.preventDefault(), send.mutate())} aria-labelledby="upload-title">
      <h2 id="upload-title">Upload a version</h2>
      <SelectField label="Plugin" value={plugin} onChange={setPlugin}>
        <option value="">The id in plugin.yaml</option>
        {plugins.map((p) => (
          <option key={p.id} value={p.slug}>
            {p.slug}
          </option>
        ))}
      </SelectField>
      <label>
        Package (.tar.gz or .zip with plugin.yaml at its root)
        <input type="file" required accept=".tar.gz,.tgz,.zip" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
      </label>
      <label>
        Signature (base64 ed25519, optional)
        <input value={signature} onChange={(e) => setSignature(e.target.value)} />
      </label>
      {send.isPending && (
        <label>
          Uploading
          <progress max={1} value={progress} />
        </label>
      )}
      <Refusal error={send.error} />
      {send.isSuccess && (
        <p role="status">
          Published {send.data.slug} {send.data.version}
          {send.data.signed ? " (signed)" : ""}.
        </p>
      )}
      <button type="submit" disabled={send.isPending || !file}>
        Upload
      </button>
    </form>
  );
}

function MyPlugin({ plugin }: { plugin: PluginRead }) {
  const client = useQueryClient();
  return (
    <article className="card" aria-labelledby={`mine-${plugin.slug}`}>
      <h3 id={`mine-${plugin.slug}`}>
        {plugin.name} <code>{plugin.slug}</code>
      </h3>
      <p className="meta">
        {plugin.install_count} installs · {plugin.banned ? "banned" : plugin.deprecated ? "deprecated" : "listed"}
      </p>
      {plugin.latest_version === null ? (
        <Empty>No version uploaded yet.</Empty>
      ) : (
        <Versions slug={plugin.slug} onYanked={() => client.invalidateQueries({ queryKey: ["my-plugins"] })} />
      )}
      {plugin.latest_version !== null && <Analytics plugin={plugin.slug} />}
    </article>
  );
}
