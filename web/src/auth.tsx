// The caller's session: a bearer token (from the operator's identity provider in production,
// or the local suite's development sign-in) kept in sessionStorage for this tab only.
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { setToken } from "./api/client";

export type Role = "member" | "tenant_admin" | "developer" | "platform_admin";

export type Claims = {
  sub: string;
  roles: Role[];
  tenant_id?: string;
  publisher_id?: string;
  exp?: number;
};

type Session = {
  token: string | null;
  claims: Claims | null;
  signIn: (token: string) => void;
  signOut: () => void;
  has: (role: Role) => boolean;
};

const STORAGE_KEY = "opscenter.token";

/** The token's claims, read without verifying (the services verify; this only shapes the UI). */
export function decodeClaims(token: string): Claims | null {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const claims = JSON.parse(json) as Claims;
    return Array.isArray(claims.roles) ? claims : null;
  } catch {
    return null;
  }
}

// Role rank as the services expand it: tenant_admin includes member.
const IMPLIES: Record<Role, Role[]> = {
  member: ["member"],
  tenant_admin: ["tenant_admin", "member"],
  developer: ["developer"],
  platform_admin: ["platform_admin"],
};

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [token, setState] = useState<string | null>(() => {
    const stored = sessionStorage.getItem(STORAGE_KEY);
    setToken(stored);
    return stored;
  });
  const signIn = useCallback((next: string) => {
    sessionStorage.setItem(STORAGE_KEY, next);
    setToken(next);
    setState(next);
  }, []);
  const signOut = useCallback(() => {
    sessionStorage.removeItem(STORAGE_KEY);
    setToken(null);
    setState(null);
  }, []);
  const value = useMemo<Session>(() => {
    const claims = token ? decodeClaims(token) : null;
    const granted = new Set((claims?.roles ?? []).flatMap((r) => IMPLIES[r] ?? []));
    return { token, claims, signIn, signOut, has: (role) => granted.has(role) };
  }, [token, signIn, signOut]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside SessionProvider");
  return session;
}
