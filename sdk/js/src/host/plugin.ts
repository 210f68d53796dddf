/** The plugin's side of the host API: connect, register, read config, call the API. */
import { createApiClient, type OpsCenterApi } from "../client.js";
import {
  CHANNEL,
  HostError,
  isHostMessage,
  PROTOCOL_VERSION,
  registrationErrors,
  type HostEvents,
  type HostMethod,
  type HostMethods,
  type HostTransport,
  type PluginContext,
  type Registration,
  type ScopedToken,
} from "./protocol.js";

/** What a window offers for postMessage: a real Window, or a WindowProxy such as window.parent. */
export interface MessageTarget {
  postMessage(message: unknown, targetOrigin: string): void;
}
export interface MessageEvents {
  addEventListener(type: "message", listener: (event: MessageEvent) => void): void;
  removeEventListener(type: "message", listener: (event: MessageEvent) => void): void;
}

export interface PostMessageOptions {
  /** The plugin's own window, where answers arrive. */
  self: MessageEvents;
  /** The console's window (window.parent for a plugin in an iframe). */
  host: MessageTarget;
  /** The console's origin: requests go only there, and only its answers are read. */
  hostOrigin: string;
  timeoutMs?: number;
}

/** Requests over window.postMessage; an answer counts only from the host window and origin. */
export function postMessageTransport(options: PostMessageOptions): HostTransport {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }>();
  const listeners = new Set<(name: string, data: unknown) => void>();
  let next = 0;
  const onMessage = (event: MessageEvent) => {
    if (event.source !== options.host || event.origin !== options.hostOrigin || !isHostMessage(event.data)) return;
    const message = event.data;
    if (message.kind === "event") {
      for (const listener of listeners) listener(message.name, message.data);
    } else if (message.kind === "response") {
      const call = pending.get(message.id);
      if (!call) return;
      pending.delete(message.id);
      clearTimeout(call.timer);
      if (message.ok) call.resolve(message.result);
      else call.reject(new HostError(message.error.code, message.error.message));
    }
  };
  options.self.addEventListener("message", onMessage);
  return {
    request(method, params) {
      const id = `${Date.now().toString(36)}-${(next++).toString(36)}`;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new HostError("unavailable", `the console did not answer ${method} within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
        options.host.postMessage({ channel: CHANNEL, kind: "request", id, method, params }, options.hostOrigin);
      });
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      options.self.removeEventListener("message", onMessage);
      for (const call of pending.values()) {
        clearTimeout(call.timer);
        call.reject(new HostError("unavailable", "the connection to the console was closed"));
      }
      pending.clear();
      listeners.clear();
    },
  };
}

export interface PluginHost {
  readonly context: PluginContext;
  /** The API with the plugin's permissions: every call carries the console's scoped token. */
  readonly api: OpsCenterApi;
  hasPermission(permission: string): boolean;
  register(surface: Registration): Promise<void>;
  getConfig<T extends Record<string, unknown> = Record<string, unknown>>(): Promise<T>;
  getToken(): Promise<ScopedToken>;
  onConfigChange(listener: (config: HostEvents["config.changed"]["config"]) => void): () => void;
  close(): void;
}

export interface ConnectOptions {
  /** Use this carrier instead of finding one (tests, or a console embedding plugins its own way). */
  transport?: HostTransport;
  /** The console's origin; defaults to the `ops_host_origin` query parameter, else this origin. */
  hostOrigin?: string;
  window?: Window;
  timeoutMs?: number;
  /** A token is asked for again this many seconds before it expires. */
  tokenRefreshSeconds?: number;
}

declare global {
  interface Window {
    /** Injected by the console for plugins it runs in its own document. */
    opsCenterHost?: HostTransport;
  }
}

function findTransport(options: ConnectOptions): HostTransport {
  if (options.transport) return options.transport;
  const win = options.window ?? globalThis.window;
  if (!win) throw new HostError("unavailable", "no window: connectHost runs in a browser (or pass a transport)");
  if (win.opsCenterHost) return win.opsCenterHost;
  if (win.parent === win) throw new HostError("unavailable", "not inside the Ops Center console (no parent window, no injected host)");
  const hostOrigin =
    options.hostOrigin ?? new URL(win.location.href).searchParams.get("ops_host_origin") ?? win.location.origin;
  return postMessageTransport({ self: win, host: win.parent, hostOrigin, timeoutMs: options.timeoutMs });
}

async function call<M extends HostMethod>(
  transport: HostTransport,
  method: M,
  params: HostMethods[M]["params"],
): Promise<HostMethods[M]["result"]> {
  return (await transport.request(method, params)) as HostMethods[M]["result"];
}

/** Says hello to the console and answers the plugin's host once the console knows who it is. */
export async function connectHost(options: ConnectOptions = {}): Promise<PluginHost> {
  const transport = findTransport(options);
  const context = await call(transport, "hello", { protocol: PROTOCOL_VERSION });
  if (context.protocol !== PROTOCOL_VERSION) {
    transport.close?.();
    throw new HostError("unavailable", `the console speaks host protocol ${context.protocol}, this SDK ${PROTOCOL_VERSION}`);
  }
  const refresh = options.tokenRefreshSeconds ?? 30;
  let cached: Promise<ScopedToken> | undefined;
  const getToken = async (): Promise<ScopedToken> => {
    const token = cached && (await cached.catch(() => undefined));
    if (token && token.expiresAt - refresh > Date.now() / 1000) return token;
    cached = call(transport, "token.get", {});
    return cached;
  };
  const granted = new Set(context.permissions);
  return {
    context,
    api: createApiClient({ baseUrl: context.apiBaseUrl, token: async () => (await getToken()).token }),
    hasPermission: (permission) => granted.has(permission),
    async register(surface) {
      const errors = registrationErrors(surface);
      if (errors.length) throw new HostError("invalid-params", errors.join("; "));
      await call(transport, "register", surface);
    },
    getConfig: async <T>() => (await call(transport, "config.get", {})) as T,
    getToken,
    onConfigChange(listener) {
      return transport.subscribe((name, data) => {
        if (name === "config.changed") listener((data as HostEvents["config.changed"]).config);
      });
    },
    close: () => transport.close?.(),
  };
}
