import type { PlanItem } from "../api/types";
import { describePermission } from "../permissions";

/** Every permission of the plan in plain words, grouped by the plugin that asks for it. */
export function PermissionList({ items }: { items: PlanItem[] }) {
  const asking = items.filter((item) => item.permissions.length > 0);
  if (asking.length === 0) return <p>No plugin in this plan asks for any permission.</p>;
  return (
    <div className="permission-groups">
      {asking.map((item) => (
        <section key={item.plugin} aria-labelledby={`perm-${item.plugin}`}>
          <h3 id={`perm-${item.plugin}`}>
            {item.plugin} {item.version}
            {item.role === "dependency" ? " (dependency)" : ""}
          </h3>
          <ul>
            {item.permissions.map((p) => (
              <li key={p}>
                <strong>{describePermission(p)}</strong> <code>{p}</code>
              </li>
            ))}
          </ul>
        </section>
      ))}
    </div>
  );
}
