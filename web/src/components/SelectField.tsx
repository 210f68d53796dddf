import { useId, type ReactNode } from "react";

/** A labelled select. The label is its own element (not wrapping the select), so the field's
 * accessible name is the label alone, not the label followed by every option. */
export function SelectField({ label, value, onChange, children }: { label: string; value: string | number; onChange: (value: string) => void; children: ReactNode }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        {children}
      </select>
    </div>
  );
}
