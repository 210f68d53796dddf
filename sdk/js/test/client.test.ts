// The client against a real HTTP server (node:http on an ephemeral port) answering as the
// services do: JSON bodies, problem+json errors.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createApiClient, ProblemError } from "../src/index.js";

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}
let server: Server;
let baseUrl: string;
let seen: Seen[] = [];
let answer: { status: number; type: string; body: string } = { status: 200, type: "application/json", body: "{}" };

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      res.writeHead(answer.status, { "content-type": answer.type });
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  seen = [];
  answer = { status: 200, type: "application/json", body: "{}" };
});

describe("createApiClient", () => {
  it("sends the bearer token and resolves to the success body", async () => {
    answer.body = JSON.stringify({ items: [{ plugin: "login-audit", version: "1.0.0", state: "enabled" }], next_cursor: null });
    const api = createApiClient({ baseUrl, token: "tok-1" });
    const page = await api.get("/api/v1/plugins/installed");
    expect(page.items[0]?.plugin).toBe("login-audit");
    expect(seen[0]?.method).toBe("GET");
    expect(seen[0]?.url).toBe("/api/v1/plugins/installed");
    expect(seen[0]?.headers.authorization).toBe("Bearer tok-1");
    expect(seen[0]?.headers["idempotency-key"]).toBeUndefined();
  });

  it("asks a token function before every request and sends no header without a token", async () => {
    let n = 0;
    const api = createApiClient({ baseUrl, token: async () => (n++ === 0 ? undefined : `tok-${n}`) });
    await api.get("/api/v1/hooks/events");
    await api.get("/api/v1/hooks/events");
    expect(seen[0]?.headers.authorization).toBeUndefined();
    expect(seen[1]?.headers.authorization).toBe("Bearer tok-2");
  });

  it("fills path and query parameters, escaping them", async () => {
    const api = createApiClient({ baseUrl });
    await api.get("/api/v1/plugins/{plugin}/installation", { params: { path: { plugin: "a/b c" } } });
    await api.get("/api/v1/plugins/marketplace", { params: { query: { q: "audit & log", sort: "popular" } } });
    expect(seen[0]?.url).toBe("/api/v1/plugins/a%2Fb%20c/installation");
    expect(seen[1]?.url).toBe("/api/v1/plugins/marketplace?q=audit%20%26%20log&sort=popular");
  });

  it("puts a fresh Idempotency-Key on every POST and keeps the caller's own for a retry", async () => {
    const keys = ["k-1", "k-2"];
    const api = createApiClient({ baseUrl, idempotencyKey: () => keys.shift() ?? "k-none" });
    const body = { plugin: "login-audit", accept_permissions: ["api:users:read" as const] };
    await api.post("/api/v1/plugins/install", { body });
    await api.post("/api/v1/plugins/install", { body });
    await api.post("/api/v1/plugins/install", { body, params: { header: { "Idempotency-Key": "retry-7" } } });
    await api.put("/api/v1/plugins/{plugin}/config", { params: { path: { plugin: "login-audit" } }, body: { config: {} } });
    expect(seen.map((s) => s.headers["idempotency-key"])).toEqual(["k-1", "k-2", "retry-7", undefined]);
    expect(JSON.parse(seen[0]?.body ?? "")).toEqual(body);
    expect(seen[0]?.headers["content-type"]).toBe("application/json");
  });

  it("uses crypto.randomUUID for keys by default", async () => {
    const api = createApiClient({ baseUrl });
    await api.post("/api/v1/plugins/{plugin}/enable", { params: { path: { plugin: "x" } } });
    expect(seen[0]?.headers["idempotency-key"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("rejects with a ProblemError carrying title, detail and field errors", async () => {
    answer = {
      status: 422,
      type: "application/problem+json",
      body: JSON.stringify({
        type: "https://opscenter.dev/problems/validation",
        title: "Invalid input",
        status: 422,
        detail: "2 fields are invalid",
        errors: [
          { field: "body.config.api_key", message: "is required" },
          { field: "body.accept_permissions", message: "network:outbound needs consent" },
        ],
      }),
    };
    const api = createApiClient({ baseUrl });
    const failure = await api.post("/api/v1/plugins/install", { body: { plugin: "x" } }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ProblemError);
    const problem = failure as ProblemError;
    expect(problem.status).toBe(422);
    expect(problem.title).toBe("Invalid input");
    expect(problem.detail).toBe("2 fields are invalid");
    expect(problem.errors.map((e) => e.field)).toEqual(["body.config.api_key", "body.accept_permissions"]);
    expect(problem.message).toBe(
      "Invalid input: 2 fields are invalid (body.config.api_key: is required; body.accept_permissions: network:outbound needs consent)",
    );
  });

  it("turns an answer that is not problem+json into a ProblemError with the status", async () => {
    answer = { status: 502, type: "text/html", body: "<h1>Bad Gateway</h1>" };
    const api = createApiClient({ baseUrl });
    const failure = (await api.get("/api/v1/hooks/events").catch((e: unknown) => e)) as ProblemError;
    expect(failure).toBeInstanceOf(ProblemError);
    expect(failure.status).toBe(502);
    expect(failure.title).toBe("Bad Gateway");
    expect(failure.detail).toBe("<h1>Bad Gateway</h1>");
    expect(failure.errors).toEqual([]);
  });
});
