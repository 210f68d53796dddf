import { NavLink, Route, Routes } from "react-router-dom";
import { useSession } from "./auth";
import { Admin } from "./pages/Admin";
import { Dashboard } from "./pages/Dashboard";
import { Developer } from "./pages/Developer";
import { Install } from "./pages/Install";
import { Marketplace } from "./pages/Marketplace";
import { PluginDetail } from "./pages/PluginDetail";
import { SignIn } from "./pages/SignIn";

export function App() {
  const session = useSession();
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">Ops Center plugins</span>
        <nav aria-label="Main">
          <NavLink to="/" end>
            Marketplace
          </NavLink>
          <NavLink to="/dashboard">Dashboard</NavLink>
          <NavLink to="/developer">Developer</NavLink>
          <NavLink to="/admin">Moderation</NavLink>
          <NavLink to="/sign-in">{session.claims ? `${session.claims.roles.join(", ")}` : "Sign in"}</NavLink>
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        <Routes>
          <Route path="/" element={<Marketplace />} />
          <Route path="/plugins/:slug" element={<PluginDetail />} />
          <Route path="/plugins/:slug/install" element={<Install />} />
          <Route path="/dashboard" element={<Dashboard />} />
          <Route path="/developer" element={<Developer />} />
          <Route path="/admin" element={<Admin />} />
          <Route path="/sign-in" element={<SignIn />} />
          <Route
            path="*"
            element={
              <section>
                <h1>No such page</h1>
                <p>
                  Nothing lives at this address. <NavLink to="/">Back to the marketplace</NavLink>
                </p>
              </section>
            }
          />
        </Routes>
      </main>
    </>
  );
}
