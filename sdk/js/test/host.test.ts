// Both sides of the host API, plugin (connectHost) and console (serveHost, createInjectedHost),
// in two happy-dom windows of different origins.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Window } from "happy-dom";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  connectHost,
  createInjectedHost,
  HostError,
  postMessageTransport,
  serveHost,
  type HostHandlers,
  type MessageTarget,
  type Registration,
} from "../src/host/index.js";

const CONSOLE = "https://console.example";
const PLUGINS = "https://plugins.example";

/**
 * Two windows and the WindowProxy each holds of the other. Posting delivers a MessageEvent to
 * the other window, later, with a structured copy, the sender's origin and proxy as `source`;
 * a targetOrigin that is not the recipient's drops the message, as browsers do.
 */
function browser(pluginUrl = `${PLUGINS}/login-audit/index.html?ops_host_origin=${encodeURIComponent(CONSOLE)}`) {
  const consoleWindow = new Window({ url: `${CONSOLE}/plugins/login-audit` });
  const pluginWindow = new Window({ url: pluginUrl });
  const proxies: { toConsole?: MessageTarget; toPlugin?: MessageTarget } = {};
  const deliver = (to: Window, source: () => MessageTarget | undefined) => (data: unknown, targetOrigin: string) => {
    const from = to === consoleWindow ? pluginWindow : consoleWindow;
    if (targetOrigin !== "*" && targetOrigin !== to.location.origin) return;
    const copy = structuredClone(data);
    setTimeout(() => to.dispatchEvent(new to.MessageEvent("message", { data: copy, origin: from.location.origin, source: source() as never })), 0);
  };
  proxies.toConsole = { postMessage: deliver(consoleWindow, () => proxies.toPlugin) };
  proxies.toPlugin = { postMessage: deliver(pluginWindow, () => proxies.toConsole) };
  Object.defineProperty(pluginWindow, "parent", { value: proxies.toConsole });
  return { consoleWindow, pluginWindow, toConsole: proxies.toConsole, toPlugin: proxies.toPlugin };
}

let api: Server;
let apiUrl: string;
const authorizations: (string | undefined)[] = [];
beforeAll(async () => {
  api = createServer((req, res) => {
    authorizations.push(req.headers.authorization);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ items: [], next_cursor: null }));
  });
  await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => api.close(() => resolve())));

function consoleHandlers(overrides: Partial<HostHandlers> = {}) {
  const registered: Registration[] = [];
  const handlers: HostHandlers = {
    hello: () => ({
      protocol: 1,
      plugin: { id: "0b7e", slug: "login-audit", version: "1.2.0" },
      tenantId: "t1",
      permissions: ["api:users:read"],
      apiBaseUrl: apiUrl,
    }),
    register: (surface) => {
      registered.push(surface);
      return { registered: true };
    },
    "config.get": () => ({ retention_days: 30, webhook_secret: "********" }),
    "token.get": () => ({ token: "scoped", expiresAt: Math.floor(Date.now() / 1000) + 600 }),
    ...overrides,
  };
  return { handlers, registered };
}

const closers: (() => void)[] = [];
afterEach(() => closers.splice(0).forEach((close) => close()));

describe("over window.postMessage", () => {
  function framed(overrides: Partial<HostHandlers> = {}) {
    const b = browser();
    const c = consoleHandlers(overrides);
    const served = serveHost({ self: b.consoleWindow as never, frame: b.toPlugin, frameOrigin: PLUGINS, handlers: c.handlers });
    closers.push(served.close);
    return { ...b, ...c, served };
  }

  it("finds the console through window.parent and ops_host_origin, and reads its context", async () => {
    const { pluginWindow } = framed();
    const host = await connectHost({ window: pluginWindow as never });
    closers.push(host.close);
    expect(host.context.plugin.slug).toBe("login-audit");
    expect(host.hasPermission("api:users:read")).toBe(true);
    expect(host.hasPermission("api:users:write")).toBe(false);
  });

  it("registers a page and a panel, and reads the config", async () => {
    const { pluginWindow, registered } = framed();
    const host = await connectHost({ window: pluginWindow as never });
    closers.push(host.close);
    await host.register({ kind: "page", id: "audit", title: "Login audit", path: "audit" });
    await host.register({ kind: "panel", id: "last-logins", title: "Last logins", slot: "user.detail" });
    expect(registered.map((r) => r.id)).toEqual(["audit", "last-logins"]);
    expect(await host.getConfig()).toEqual({ retention_days: 30, webhook_secret: "********" });
  });

  it("calls the API with the scoped token, asking for a new one only near its expiry", async () => {
    let expiresIn = 10; // inside the 30 s refresh margin: every call asks again
    let n = 0;
    const { pluginWindow } = framed({
      "token.get": () => ({ token: `scoped-${++n}`, expiresAt: Math.floor(Date.now() / 1000) + expiresIn }),
    });
    const host = await connectHost({ window: pluginWindow as never });
    closers.push(host.close);
    authorizations.length = 0;
    await host.api.get("/api/v1/plugins/installed");
    await host.api.get("/api/v1/plugins/installed");
    expiresIn = 600;
    await host.api.get("/api/v1/plugins/installed");
    await host.api.get("/api/v1/plugins/installed");
    expect(authorizations).toEqual(["Bearer scoped-1", "Bearer scoped-2", "Bearer scoped-3", "Bearer scoped-3"]);
  });

  it("passes config changes the console emits", async () => {
    const { pluginWindow, served } = framed();
    const host = await connectHost({ window: pluginWindow as never });
    closers.push(host.close);
    const seen = new Promise((resolve) => host.onConfigChange(resolve));
    served.emit("config.changed", { config: { retention_days: 7 } });
    expect(await seen).toEqual({ retention_days: 7 });
  });

  it("refuses a bad registration in the plugin, and again in the console", async () => {
    const { pluginWindow, toConsole, registered } = framed();
    const host = await connectHost({ window: pluginWindow as never });
    closers.push(host.close);
    const local = await host.register({ kind: "page", id: "Audit!", title: "", path: "../admin" }).catch((e: unknown) => e);
    expect(local).toBeInstanceOf(HostError);
    expect((local as HostError).message).toBe(
      "id: 1-64 of a-z, 0-9 and -, starting with a letter or digit; title: 1-80 characters; path: a relative path of a-z, 0-9, /, _ and - (no leading /)",
    );
    // A plugin that skips the SDK's check still meets the console's.
    const raw = postMessageTransport({ self: pluginWindow as never, host: toConsole, hostOrigin: CONSOLE });
    closers.push(() => raw.close?.());
    const remote = (await raw.request("register", { kind: "panel", id: "p", title: "P", slot: "Device Detail" }).catch((e: unknown) => e)) as HostError;
    expect(remote.code).toBe("invalid-params");
    expect(remote.message).toBe('slot: a dotted name such as "device.detail"');
    expect(registered).toEqual([]);
  });

  it("answers an unknown method and a handler's refusal with their codes", async () => {
    const { pluginWindow, toConsole } = framed({
      "config.get": () => {
        throw new HostError("forbidden", "the installation is disabled");
      },
    });
    const raw = postMessageTransport({ self: pluginWindow as never, host: toConsole, hostOrigin: CONSOLE });
    closers.push(() => raw.close?.());
    const unknown = (await raw.request("devices.delete", {}).catch((e: unknown) => e)) as HostError;
    expect([unknown.code, unknown.message]).toEqual(["unknown-method", 'no host method "devices.delete"']);
    const refused = (await raw.request("config.get", {}).catch((e: unknown) => e)) as HostError;
    expect([refused.code, refused.message]).toEqual(["forbidden", "the installation is disabled"]);
  });

  it("ignores answers from another origin or another window", async () => {
    const b = browser();
    const transport = postMessageTransport({ self: b.pluginWindow as never, host: b.toConsole, hostOrigin: CONSOLE, timeoutMs: 200 });
    closers.push(() => transport.close?.());
    const asked = transport.request("config.get", {});
    const forged = (origin: string, source: unknown) =>
      b.pluginWindow.dispatchEvent(
        new b.pluginWindow.MessageEvent("message", {
          origin,
          source: source as never,
          data: { channel: "ops-center.plugin-host", kind: "response", id: "x", ok: true, result: { stolen: true } },
        }),
      );
    // Any id: the listener must drop these before it looks at ids.
    forged("https://evil.example", b.toConsole);
    forged(CONSOLE, b.pluginWindow);
    const failure = (await asked.catch((e: unknown) => e)) as HostError;
    expect(failure.code).toBe("unavailable");
    expect(failure.message).toBe("the console did not answer config.get within 200 ms");
  });

  it("sends nothing to a console of another origin than the one named", async () => {
    const b = browser(`${PLUGINS}/x/index.html?ops_host_origin=${encodeURIComponent("https://other.example")}`);
    const c = consoleHandlers();
    const served = serveHost({ self: b.consoleWindow as never, frame: b.toPlugin, frameOrigin: PLUGINS, handlers: c.handlers });
    closers.push(served.close);
    const failure = (await connectHost({ window: b.pluginWindow as never, timeoutMs: 200 }).catch((e: unknown) => e)) as HostError;
    expect(failure.code).toBe("unavailable");
  });

  it("does not answer a frame it does not serve", async () => {
    const b = browser();
    const c = consoleHandlers();
    const stranger: MessageTarget = { postMessage: () => undefined };
    const served = serveHost({ self: b.consoleWindow as never, frame: stranger, frameOrigin: PLUGINS, handlers: c.handlers });
    closers.push(served.close);
    const failure = (await connectHost({ window: b.pluginWindow as never, timeoutMs: 200 }).catch((e: unknown) => e)) as HostError;
    expect(failure.message).toBe("the console did not answer hello within 200 ms");
  });
});

describe("with an injected host object", () => {
  it("uses window.opsCenterHost and copies what crosses it", async () => {
    const win = new Window({ url: `${CONSOLE}/plugins/login-audit` });
    const config = { retention_days: 30 };
    const c = consoleHandlers({ "config.get": () => config });
    const injected = createInjectedHost(c.handlers);
    Object.assign(win, { opsCenterHost: injected });
    const host = await connectHost({ window: win as never });
    const got = await host.getConfig<{ retention_days: number }>();
    got.retention_days = 1;
    expect(config.retention_days).toBe(30);
    await host.register({ kind: "panel", id: "last-logins", title: "Last logins", slot: "user.detail" });
    expect(c.registered).toHaveLength(1);
    const changed = new Promise((resolve) => host.onConfigChange(resolve));
    injected.emit("config.changed", { config: { retention_days: 7 } });
    expect(await changed).toEqual({ retention_days: 7 });
  });

  it("refuses a console of another protocol version", async () => {
    const c = consoleHandlers({ hello: () => ({ ...consoleHandlers().handlers.hello({ protocol: 1 }), protocol: 2 }) as never });
    const failure = (await connectHost({ transport: createInjectedHost(c.handlers) }).catch((e: unknown) => e)) as HostError;
    expect(failure.message).toBe("the console speaks host protocol 2, this SDK 1");
  });

  it("says so when the page is neither framed nor given a host", async () => {
    const win = new Window({ url: `${PLUGINS}/alone.html` });
    const failure = (await connectHost({ window: win as never }).catch((e: unknown) => e)) as HostError;
    expect(failure.message).toBe("not inside the Ops Center console (no parent window, no injected host)");
  });
});
