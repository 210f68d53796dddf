// The built package as its users import it: every entry of package.json's exports map resolves
// (by the package's own name) to a module in dist/ with its .d.ts, exporting what the README says.
// `npm run ci` builds before it tests.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const sdk = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const manifest = JSON.parse(readFileSync(path.join(sdk, "package.json"), "utf8"));
const expected: Record<string, string[]> = {
  ".": ["createApiClient", "ProblemError", "connectHost", "serveHost"],
  "./webhooks": ["verify", "verifyAndParse", "sign", "WebhookVerificationError", "DEFAULT_TOLERANCE_S"],
  "./host": ["connectHost", "serveHost", "createInjectedHost", "postMessageTransport", "HostError", "registrationErrors", "CHANNEL"],
};

describe("package exports", () => {
  it("lists exactly the documented entry points", () => {
    expect(Object.keys(manifest.exports).sort()).toEqual(Object.keys(expected).sort());
  });

  it.each(Object.entries(expected))("%s resolves to built code with types", (entry, names) => {
    const target = manifest.exports[entry];
    expect(existsSync(path.join(sdk, target.default))).toBe(true);
    expect(existsSync(path.join(sdk, target.types))).toBe(true);
    const specifier = entry === "." ? manifest.name : `${manifest.name}/${entry.slice(2)}`;
    const script = `const m = await import(${JSON.stringify(specifier)}); console.log(JSON.stringify(Object.keys(m)));`;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: sdk, encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toEqual(expect.arrayContaining(names));
  });

  it("keeps node:crypto out of the browser entry points", () => {
    for (const file of ["dist/index.js", "dist/client.js", "dist/problem.js", "dist/host/plugin.js", "dist/host/console.js"]) {
      expect(readFileSync(path.join(sdk, file), "utf8")).not.toMatch(/(from\s*|import\s*\()\s*["']node:/);
    }
  });
});
