/**
 * The console's side of the host API: it answers one plugin's requests with the console's own
 * handlers. The console knows the plugin (slug, installation, permissions) from the URL it
 * framed; the handlers decide, and a plugin never names another plugin.
 */
import {
  CHANNEL,
  HostError,
  isHostMessage,
  registrationErrors,
  type HostEvent,
  type HostEvents,
  type HostMethods,
  type HostTransport,
  type ResponseMessage,
} from "./protocol.js";
import type { MessageEvents, MessageTarget } from "./plugin.js";

export type HostHandlers = {
  [M in keyof HostMethods]: (params: HostMethods[M]["params"]) => HostMethods[M]["result"] | Promise<HostMethods[M]["result"]>;
};

export interface ServedHost {
  emit<E extends HostEvent>(name: E, data: HostEvents[E]): void;
  close(): void;
}

/** Runs one request through the handlers; refusals come back as HostError. */
async function dispatch(handlers: HostHandlers, method: string, params: unknown): Promise<unknown> {
  if (!Object.hasOwn(handlers, method)) throw new HostError("unknown-method", `no host method ${JSON.stringify(method)}`);
  if (method === "register") {
    const errors = registrationErrors(params);
    if (errors.length) throw new HostError("invalid-params", errors.join("; "));
  }
  const handler = handlers[method as keyof HostMethods] as (p: unknown) => unknown;
  return handler(params ?? {});
}

function refusal(error: unknown): { code: HostError["code"]; message: string } {
  if (error instanceof HostError) return { code: error.code, message: error.message };
  return { code: "failed", message: error instanceof Error ? error.message : String(error) };
}

export interface ServeOptions {
  /** The console's window, where the plugin's requests arrive. */
  self: MessageEvents;
  /** The plugin's frame (iframe.contentWindow): only its messages are answered. */
  frame: MessageTarget;
  /** The plugin frame's origin: answers carry tokens, so they are posted to it and nowhere else. */
  frameOrigin: string;
  handlers: HostHandlers;
}

/** Serves a framed plugin over window.postMessage. */
export function serveHost(options: ServeOptions): ServedHost {
  const post = (message: unknown) => options.frame.postMessage(message, options.frameOrigin);
  const onMessage = (event: MessageEvent) => {
    if (event.source !== options.frame || event.origin !== options.frameOrigin || !isHostMessage(event.data)) return;
    const request = event.data;
    if (request.kind !== "request" || typeof request.id !== "string") return;
    dispatch(options.handlers, request.method, request.params).then(
      (result) => post({ channel: CHANNEL, kind: "response", id: request.id, ok: true, result } satisfies ResponseMessage),
      (error: unknown) =>
        post({ channel: CHANNEL, kind: "response", id: request.id, ok: false, error: refusal(error) } satisfies ResponseMessage),
    );
  };
  options.self.addEventListener("message", onMessage);
  return {
    emit: (name, data) => post({ channel: CHANNEL, kind: "event", name, data }),
    close: () => options.self.removeEventListener("message", onMessage),
  };
}

/**
 * The object the console sets as `window.opsCenterHost` for a plugin it runs in its own
 * document (no iframe): the same methods and checks, without postMessage.
 */
export function createInjectedHost(handlers: HostHandlers): HostTransport & ServedHost {
  const listeners = new Set<(name: string, data: unknown) => void>();
  return {
    async request(method, params) {
      try {
        // A structured copy, as postMessage would make: neither side keeps the other's objects.
        return structuredClone(await dispatch(handlers, method, structuredClone(params)));
      } catch (error) {
        const { code, message } = refusal(error);
        throw new HostError(code, message);
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    emit(name, data) {
      for (const listener of listeners) listener(name, structuredClone(data));
    },
    close: () => listeners.clear(),
  };
}
