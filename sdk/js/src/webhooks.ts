/**
 * Standard Webhooks (v1, HMAC-SHA256) verification for Node plugins that receive deliveries.
 *
 * The hooks service signs `{webhook-id}.{webhook-timestamp}.{body}` with every active secret of
 * the installation and sends the signatures space-separated in `webhook-signature` (`v1,<b64>`
 * each), so a receiver holding either secret verifies during a rotation. A delivery verifies when
 * one `v1` signature matches and the timestamp is within the tolerance of now, either way. The
 * Python SDK (opscenter.sdk.webhooks) gives the same answers on sdk/vectors/webhooks.json.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const DEFAULT_TOLERANCE_S = 300;
const PREFIX = "whsec_";
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The delivery is not authentic (or too old, or too new); the message says which. */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookVerificationError";
  }
}

/** Request headers as Node (`IncomingMessage.headers`), fetch (`Headers`) or a plain object give them. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

export interface VerifyOptions {
  toleranceSeconds?: number;
  /** The verifier's clock in unix seconds; defaults to Date.now(). */
  now?: number;
}

function key(secret: string): Buffer {
  const raw = secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret;
  // Buffer.from(..., "base64") skips bad characters silently; a mistyped secret must fail loudly.
  if (raw.length === 0 || !BASE64.test(raw)) {
    throw new WebhookVerificationError("the secret is not base64 (whsec_...)");
  }
  return Buffer.from(raw, "base64");
}

function bytes(body: string | Uint8Array): Buffer {
  return typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body);
}

function digest(secret: string, msgId: string, timestamp: number, body: string | Uint8Array): Buffer {
  return createHmac("sha256", key(secret))
    .update(`${msgId}.${timestamp}.`)
    .update(bytes(body))
    .digest();
}

/** The `v1,<base64>` signature of one delivery (what the hooks service sends). */
export function sign(secret: string, msgId: string, timestamp: number, body: string | Uint8Array): string {
  return `v1,${digest(secret, msgId, timestamp, body).toString("base64")}`;
}

function header(headers: WebhookHeaders, name: string): string {
  let value: string | string[] | null | undefined;
  if (typeof (headers as Headers).get === "function") {
    value = (headers as Headers).get(name);
  } else {
    const entry = Object.entries(headers).find(([k]) => k.toLowerCase() === name);
    value = entry?.[1];
  }
  if (Array.isArray(value)) value = value.join(" ");
  if (value === undefined || value === null) throw new WebhookVerificationError(`the ${name} header is missing`);
  return value;
}

/**
 * Returns when the delivery is authentic; throws `WebhookVerificationError` otherwise.
 * `body` must be the raw request body, byte for byte (never re-serialized JSON).
 */
export function verify(
  secret: string,
  headers: WebhookHeaders,
  body: string | Uint8Array,
  options: VerifyOptions = {},
): void {
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_S;
  const msgId = header(headers, "webhook-id");
  const stamp = header(headers, "webhook-timestamp").trim();
  if (!/^-?\d+$/.test(stamp)) throw new WebhookVerificationError("webhook-timestamp is not an integer");
  const timestamp = Number(stamp);
  const now = options.now ?? Date.now() / 1000;
  if (timestamp < now - tolerance) throw new WebhookVerificationError("the delivery is too old (webhook-timestamp)");
  if (timestamp > now + tolerance) throw new WebhookVerificationError("the delivery is too new (webhook-timestamp)");
  const expected = digest(secret, msgId, timestamp, body);
  let matched = false;
  // Every candidate is compared (no early exit) so timing does not tell which one matched.
  for (const candidate of header(headers, "webhook-signature").split(/\s+/)) {
    const comma = candidate.indexOf(",");
    if (comma === -1 || candidate.slice(0, comma) !== "v1") continue;
    const given = Buffer.from(candidate.slice(comma + 1), "base64");
    if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
  }
  if (!matched) throw new WebhookVerificationError("no webhook-signature matches (wrong secret or changed body)");
}

/** Verifies, then parses the body: the delivery `{id, type, time, tenant_id, data}`. */
export function verifyAndParse<T = WebhookEvent>(
  secret: string,
  headers: WebhookHeaders,
  body: string | Uint8Array,
  options: VerifyOptions = {},
): T {
  verify(secret, headers, body, options);
  return JSON.parse(bytes(body).toString("utf8")) as T;
}

/** The body of a webhook delivery; `data` is trimmed to the installation's granted permissions. */
export interface WebhookEvent<D = Record<string, unknown>> {
  id: string;
  type: string;
  time: string;
  tenant_id: string;
  data: D;
}
