import { Link, useParams } from "react-router-dom";
import { useSession } from "../auth";
import { InstallWizard } from "../components/InstallWizard";

export function Install() {
  const { slug = "" } = useParams();
  const session = useSession();
  return (
    <section>
      <h1>Install {slug}</h1>
      {session.has("tenant_admin") ? (
        <InstallWizard slug={slug} />
      ) : (
        <p>
          Installing needs a tenant admin: <Link to="/sign-in">sign in</Link>.
        </p>
      )}
    </section>
  );
}
