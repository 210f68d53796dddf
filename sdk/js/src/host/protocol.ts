/**
 * The contract between a frontend plugin and the console that shows it (README: "Host API").
 * Both carriers, window.postMessage and an object the console injects, speak these methods.
 */

/** Every message on the wire carries this channel, so other postMessage traffic is ignored. */
export const CHANNEL = "ops-center.plugin-host";
export const PROTOCOL_VERSION = 1;

/** Who the plugin is, where it runs, and what its installation was granted. */
export interface PluginContext {
  protocol: number;
  plugin: { id: string; slug: string; version: string };
  tenantId: string;
  /** The installation's granted permissions; the scoped token carries exactly these. */
  permissions: string[];
  /** The gateway's origin for API calls (paths start with /api/v1). */
  apiBaseUrl: string;
}

/** A page of its own, shown by the console under /plugins/<slug>/<path>. */
export interface PageRegistration {
  kind: "page";
  id: string;
  title: string;
  path: string;
}

/** A panel inside one of the console's screens; `slot` names the place, e.g. "device.detail". */
export interface PanelRegistration {
  kind: "panel";
  id: string;
  title: string;
  slot: string;
}

export type Registration = PageRegistration | PanelRegistration;

/** A bearer token limited to the plugin's granted permissions on its tenant. */
export interface ScopedToken {
  token: string;
  /** Unix seconds. */
  expiresAt: number;
}

export interface HostMethods {
  hello: { params: { protocol: number }; result: PluginContext };
  register: { params: Registration; result: { registered: true } };
  "config.get": { params: Record<string, never>; result: Record<string, unknown> };
  "token.get": { params: Record<string, never>; result: ScopedToken };
}
export type HostMethod = keyof HostMethods;

export interface HostEvents {
  /** The tenant admin changed the config (secrets stay masked). */
  "config.changed": { config: Record<string, unknown> };
}
export type HostEvent = keyof HostEvents;

export type HostErrorCode = "unknown-method" | "invalid-params" | "forbidden" | "unavailable" | "failed";

/** A host call that was refused; `code` is stable, `message` is for people. */
export class HostError extends Error {
  readonly code: HostErrorCode;
  constructor(code: HostErrorCode, message: string) {
    super(message);
    this.name = "HostError";
    this.code = code;
  }
}

export interface RequestMessage {
  channel: typeof CHANNEL;
  kind: "request";
  id: string;
  method: string;
  params: unknown;
}
export type ResponseMessage =
  | { channel: typeof CHANNEL; kind: "response"; id: string; ok: true; result: unknown }
  | { channel: typeof CHANNEL; kind: "response"; id: string; ok: false; error: { code: HostErrorCode; message: string } };
export interface EventMessage {
  channel: typeof CHANNEL;
  kind: "event";
  name: string;
  data: unknown;
}
export type HostMessage = RequestMessage | ResponseMessage | EventMessage;

export function isHostMessage(data: unknown): data is HostMessage {
  return typeof data === "object" && data !== null && (data as { channel?: unknown }).channel === CHANNEL;
}

/**
 * How a plugin reaches its host. The console's injected object (`window.opsCenterHost`) has this
 * shape, and so does the postMessage carrier.
 */
export interface HostTransport {
  request(method: string, params: unknown): Promise<unknown>;
  subscribe(listener: (name: string, data: unknown) => void): () => void;
  close?(): void;
}

const ID = /^[a-z0-9][a-z0-9-]{0,63}$/;
const PAGE_PATH = /^[a-z0-9][a-z0-9/_-]{0,127}$/;
const SLOT = /^[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)*$/;

/**
 * The reasons a registration is refused, each naming its field (empty when valid). The plugin
 * checks before sending; the console checks again, since it cannot trust the plugin.
 */
export function registrationErrors(surface: unknown): string[] {
  if (typeof surface !== "object" || surface === null) return ["registration: must be an object"];
  const s = surface as Record<string, unknown>;
  const errors: string[] = [];
  if (s.kind !== "page" && s.kind !== "panel") errors.push('kind: must be "page" or "panel"');
  if (typeof s.id !== "string" || !ID.test(s.id)) errors.push("id: 1-64 of a-z, 0-9 and -, starting with a letter or digit");
  if (typeof s.title !== "string" || s.title.trim() === "" || s.title.length > 80) errors.push("title: 1-80 characters");
  if (s.kind === "page" && (typeof s.path !== "string" || !PAGE_PATH.test(s.path) || s.path.includes(".."))) {
    errors.push("path: a relative path of a-z, 0-9, /, _ and - (no leading /)");
  }
  if (s.kind === "panel" && (typeof s.slot !== "string" || !SLOT.test(s.slot))) {
    errors.push('slot: a dotted name such as "device.detail"');
  }
  return errors;
}
