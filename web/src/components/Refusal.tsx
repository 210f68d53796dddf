// A refused write: the service's sentence, then each reason it listed (field path first).
import { ApiError, describeError } from "../api/client";

export function Refusal({ error }: { error: Error | null }) {
  if (!error) return null;
  const reasons = error instanceof ApiError ? error.fieldErrors() : [];
  return (
    <div role="alert" className="error">
      <p>{describeError(error)}</p>
      {reasons.length > 0 && (
        <ul>
          {reasons.map((r, i) => (
            <li key={i}>
              {r.field ? <code>{r.field}</code> : null} {r.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
