// A changed API breaks the build: a copy of the project, generated from a copy of docs/openapi
// with one response field renamed, no longer compiles test/types/api-usage.ts; the unchanged copy
// does (so the failure is the rename's). The drift check names the stale file.
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const sdk = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const openapi = path.resolve(sdk, "../../docs/openapi");
const work = mkdtempSync(path.join(tmpdir(), "sdk-js-api-change-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const generate = path.join(sdk, "scripts/generate.mjs");

/** A copy of src/ and test/types/ whose generated types come from `docs` (or stay as they are). */
function project(name: string, docs?: string): string {
  const root = path.join(work, name);
  for (const part of ["src", "test/types", "tsconfig.json"]) cpSync(path.join(sdk, part), path.join(root, part), { recursive: true });
  // Only the type-level test and what it imports: the other tests pull in large typings.
  writeFileSync(
    path.join(root, "tsconfig.usage.json"),
    JSON.stringify({ extends: "./tsconfig.json", compilerOptions: { noEmit: true, rootDir: "." }, include: ["test/types"] }),
  );
  symlinkSync(path.join(sdk, "node_modules"), path.join(root, "node_modules"), "dir");
  if (docs) execFileSync(process.execPath, [generate, "--openapi", docs, "--out", path.join(root, "src/generated")]);
  return root;
}

function tsc(root: string) {
  const bin = path.join(sdk, "node_modules/typescript/bin/tsc");
  return spawnSync(process.execPath, [bin, "-p", path.join(root, "tsconfig.usage.json")], { encoding: "utf8" });
}

/** docs/openapi with InstallationRead.granted_permissions renamed to permissions. */
function renamedDocs(): string {
  const docs = path.join(work, "openapi-renamed");
  cpSync(openapi, docs, { recursive: true });
  const file = path.join(docs, "installer.json");
  const doc = JSON.parse(readFileSync(file, "utf8"));
  const schema = doc.components.schemas.InstallationRead;
  if (!schema.properties.granted_permissions) throw new Error("InstallationRead.granted_permissions is gone: pick another field");
  schema.properties.permissions = schema.properties.granted_permissions;
  delete schema.properties.granted_permissions;
  schema.required = schema.required.map((f: string) => (f === "granted_permissions" ? "permissions" : f));
  writeFileSync(file, JSON.stringify(doc, null, 2));
  return docs;
}

describe("a changed API", () => {
  // Slow only on a loaded machine (tsc and generation are CPU-bound): generous limits, no timing aims.
  const docs = renamedDocs();

  it("compiles as committed (the control)", { timeout: 120_000 }, () => {
    const unchanged = tsc(project("unchanged"));
    expect(unchanged.stdout + unchanged.stderr).toBe("");
    expect(unchanged.status).toBe(0);
  });

  it("fails tsc where the SDK's users read the renamed field", { timeout: 120_000 }, () => {
    const changed = tsc(project("renamed", docs));
    expect(changed.status).not.toBe(0);
    expect(changed.stdout).toMatch(/test\/types\/api-usage\.ts\(\d+,\d+\): error TS2339: Property 'granted_permissions' does not exist/);
  });

  it("makes the drift check name the stale file", { timeout: 120_000 }, () => {
    const check = spawnSync(process.execPath, [generate, "--check", "--openapi", docs], { encoding: "utf8" });
    expect(check.stderr).toContain("sdk/js/src/generated is stale for installer.ts:");
    expect(check.status).toBe(1);
  });
});
