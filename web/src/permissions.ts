// Each permission in plain words. permissions.json is a copy of the contracts package's
// PERMISSION_DESCRIPTIONS; tests/contract/test_web_permissions.py fails when the two differ.
import descriptions from "./permissions.json";

const known: Record<string, string> = descriptions;

export function describePermission(name: string): string {
  return known[name] ?? `Permission "${name}"`;
}
