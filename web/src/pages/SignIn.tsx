// Sign-in. Production: paste the bearer token the operator's identity provider issued. The
// local suite also offers a development sign-in as a chosen role and tenant; its endpoint
// (/api/v1/dev/sign-in) exists only when the services' settings are not production.
import { useMutation, useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router-dom";
import { api, describeError } from "../api/client";
import { decodeClaims, useSession, type Role } from "../auth";
import { SelectField } from "../components/SelectField";

const ROLES: Role[] = ["member", "tenant_admin", "developer", "platform_admin"];

export function SignIn() {
  const session = useSession();
  const navigate = useNavigate();
  const [pasted, setPasted] = useState("");
  const [pasteError, setPasteError] = useState<string | null>(null);
  const [role, setRole] = useState<Role>("tenant_admin");
  const [tenant, setTenant] = useState("t1");
  const [publisher, setPublisher] = useState("");
  const [user, setUser] = useState("");
  const devOffered = useQuery({
    queryKey: ["dev-sign-in"],
    queryFn: () => api<{ roles: string[] }>("/dev/sign-in"),
    retry: false,
  });
  const devSignIn = useMutation({
    mutationFn: () =>
      api<{ token: string }>("/dev/sign-in", {
        method: "POST",
        body: { roles: [role], tenant_id: tenant || null, publisher_id: publisher || null, sub: user || null },
      }),
    onSuccess: ({ token }) => {
      session.signIn(token);
      navigate(role === "tenant_admin" || role === "member" ? "/dashboard" : role === "developer" ? "/developer" : "/admin");
    },
  });
  const usePasted = (e: FormEvent) => {
    e.preventDefault();
    if (!decodeClaims(pasted.trim())) {
      setPasteError("This is not a bearer token (a JWT with roles).");
      return;
    }
    session.signIn(pasted.trim());
    navigate("/");
  };
  return (
    <section aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">Sign in</h1>
      {session.claims && (
        <p>
          Signed in as {session.claims.sub} ({session.claims.roles.join(", ")}
          {session.claims.tenant_id ? `, tenant ${session.claims.tenant_id}` : ""}).{" "}
          <button type="button" className="secondary" onClick={session.signOut}>
            Sign out
          </button>
        </p>
      )}
      {devOffered.isSuccess && (
        <form onSubmit={(e) => (e.preventDefault(), devSignIn.mutate())} aria-labelledby="dev-title" className="panel">
          <h2 id="dev-title">Development sign-in</h2>
          <p>This local suite signs a token for any role and tenant. Production never offers this.</p>
          <SelectField label="Role" value={role} onChange={(v) => setRole(v as Role)}>
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </SelectField>
          <label>
            Tenant
            <input value={tenant} onChange={(e) => setTenant(e.target.value)} />
          </label>
          <label>
            Publisher (developers)
            <input value={publisher} onChange={(e) => setPublisher(e.target.value)} />
          </label>
          <label>
            User id (optional)
            <input value={user} onChange={(e) => setUser(e.target.value)} />
          </label>
          {devSignIn.isError && (
            <div role="alert" className="error">
              {describeError(devSignIn.error)}
            </div>
          )}
          <button type="submit" disabled={devSignIn.isPending}>
            Sign in as {role}
          </button>
        </form>
      )}
      <form onSubmit={usePasted} aria-labelledby="token-title" className="panel">
        <h2 id="token-title">Bearer token</h2>
        <label>
          Token from your identity provider
          <textarea value={pasted} onChange={(e) => setPasted(e.target.value)} rows={3} />
        </label>
        {pasteError && (
          <div role="alert" className="error">
            {pasteError}
          </div>
        )}
        <button type="submit">Use this token</button>
      </form>
    </section>
  );
}
