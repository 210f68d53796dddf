// The loading, empty and error states every page shows the same way.
import type { ReactNode } from "react";
import { describeError } from "../api/client";

export function Loading({ what }: { what: string }) {
  return <p role="status">Loading {what}…</p>;
}

export function Failed({ error, what }: { error: unknown; what: string }) {
  return (
    <div role="alert" className="error">
      Could not load {what}: {describeError(error)}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}
