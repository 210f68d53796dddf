// One way to call the API: every request goes to /api/v1 on the page's own origin (the
// gateway serves the console and the API together), with the signed-in caller's token.
import type { Problem } from "./types";

export const API = "/api/v1";

let currentToken: string | null = null;

/** Set by the session (auth.tsx); every request after this carries the token. */
export function setToken(token: string | null): void {
  currentToken = token;
}

/** A non-2xx answer. `problem` is the service's problem+json when it sent one. */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem | null;

  constructor(status: number, problem: Problem | null, fallback: string) {
    super(problem?.detail ?? fallback);
    this.status = status;
    this.problem = problem;
  }

  /** The problem's errors for one field path (dotted), e.g. "api_key". */
  fieldErrors(): { field: string; message: string }[] {
    return this.problem?.errors ?? [];
  }
}

type Options = {
  method?: string;
  body?: unknown;
  query?: Record<string, string | number | boolean | null | undefined>;
  headers?: Record<string, string>;
  signal?: AbortSignal;
};

export async function api<T>(path: string, options: Options = {}): Promise<T> {
  const url = new URL(API + path, window.location.origin);
  for (const [key, value] of Object.entries(options.query ?? {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, String(value));
  }
  const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
  if (currentToken) headers.Authorization = `Bearer ${currentToken}`;
  let body: BodyInit | undefined;
  if (options.body instanceof FormData) {
    body = options.body;
  } else if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  const answer = await fetch(url.pathname + url.search, {
    method: options.method ?? "GET",
    headers,
    body,
    signal: options.signal,
  });
  if (answer.status === 204) return undefined as T;
  const text = await answer.text();
  const parsed: unknown = text ? safeJson(text) : null;
  if (!answer.ok) {
    const problem = isProblem(parsed) ? parsed : null;
    throw new ApiError(answer.status, problem, `${answer.status} ${answer.statusText}`.trim());
  }
  return parsed as T;
}

/** A multipart upload through XMLHttpRequest, the one browser API that reports upload
 * progress; answers and errors as `api` does. */
export function upload<T>(path: string, form: FormData, onProgress: (fraction: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", API + path);
    xhr.setRequestHeader("Accept", "application/json");
    if (currentToken) xhr.setRequestHeader("Authorization", `Bearer ${currentToken}`);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onerror = () => reject(new Error("The upload did not reach the server"));
    xhr.onload = () => {
      const parsed = xhr.responseText ? safeJson(xhr.responseText) : null;
      if (xhr.status >= 200 && xhr.status < 300) resolve(parsed as T);
      else reject(new ApiError(xhr.status, isProblem(parsed) ? parsed : null, `${xhr.status} ${xhr.statusText}`.trim()));
    };
    xhr.send(form);
  });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function isProblem(value: unknown): value is Problem {
  return typeof value === "object" && value !== null && "status" in value && "title" in value;
}

/** A fresh Idempotency-Key for one write (its retries send the same one). */
export function newIdempotencyKey(): string {
  return globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random()}`;
}

/** What a person reads for a failed call: the problem's detail, else the status. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}
