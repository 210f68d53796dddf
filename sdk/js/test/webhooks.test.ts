import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { sign, verify, verifyAndParse, WebhookVerificationError } from "../src/webhooks.js";

interface Vector {
  name: string;
  secret: string;
  id: string;
  timestamp: number;
  now: number;
  payload: string;
  signature: string;
  valid: boolean;
}
// The same file drives the Python SDK's verifier, so both give the same answer on every case.
const vectors = JSON.parse(readFileSync(new URL("../../vectors/webhooks.json", import.meta.url), "utf8")) as {
  tolerance_s: number;
  cases: Vector[];
};

const headersOf = (v: Vector) => ({
  "webhook-id": v.id,
  "webhook-timestamp": String(v.timestamp),
  "webhook-signature": v.signature,
});

describe("shared Standard Webhooks vectors", () => {
  it("has both valid and invalid cases", () => {
    expect(vectors.cases.some((v) => v.valid)).toBe(true);
    expect(vectors.cases.some((v) => !v.valid)).toBe(true);
  });

  it.each(vectors.cases)("$name -> valid: $valid", (v) => {
    const run = () => verify(v.secret, headersOf(v), v.payload, { now: v.now, toleranceSeconds: vectors.tolerance_s });
    if (v.valid) expect(run).not.toThrow();
    else expect(run).toThrow(WebhookVerificationError);
  });

  it.each(vectors.cases.filter((v) => v.valid))("$name: the same bytes as a Buffer and as fetch Headers", (v) => {
    const headers = new Headers(headersOf(v));
    expect(() => verify(v.secret, headers, Buffer.from(v.payload), { now: v.now })).not.toThrow();
  });
});

describe("verify", () => {
  const secret = "whsec_" + Buffer.alloc(32, 7).toString("base64");
  const body = '{"id":"evt-9","type":"device.created","time":"2026-12-02T10:00:00Z","tenant_id":"t1","data":{}}';
  const now = 1_796_230_000;
  const headers = { "Webhook-Id": "msg_1", "Webhook-Timestamp": String(now), "Webhook-Signature": sign(secret, "msg_1", now, body) };

  it("accepts its own signature with any header case and parses the event", () => {
    expect(verifyAndParse(secret, headers, body, { now }).type).toBe("device.created");
  });

  it("accepts exactly the tolerance either way and refuses one second more", () => {
    expect(() => verify(secret, headers, body, { now: now + 300 })).not.toThrow();
    expect(() => verify(secret, headers, body, { now: now - 300 })).not.toThrow();
    expect(() => verify(secret, headers, body, { now: now + 301 })).toThrow(/too old/);
    expect(() => verify(secret, headers, body, { now: now - 301 })).toThrow(/too new/);
  });

  it("names the missing header", () => {
    const { "Webhook-Signature": _dropped, ...rest } = headers;
    expect(() => verify(secret, rest, body, { now })).toThrow(/webhook-signature header is missing/);
  });

  it("refuses a timestamp that is not an integer", () => {
    expect(() => verify(secret, { ...headers, "Webhook-Timestamp": "1e9" }, body, { now })).toThrow(/not an integer/);
  });

  it("refuses a secret that is not base64 instead of verifying with garbage", () => {
    expect(() => verify("whsec_not*base64", headers, body, { now })).toThrow(/not base64/);
  });

  it("refuses a truncated signature", () => {
    const short = headers["Webhook-Signature"].slice(0, 20);
    expect(() => verify(secret, { ...headers, "Webhook-Signature": short }, body, { now })).toThrow(/no webhook-signature matches/);
  });
});
