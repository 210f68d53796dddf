import createFetchClient, {
  type Client,
  type ClientPathsWithMethod,
  type MaybeOptionalInit,
  type MethodResponse,
  type Middleware,
} from "openapi-fetch";
import type { Paths } from "./generated/index.js";
import { ProblemError } from "./problem.js";

export type { Paths };

/** A bearer token, or a function asked before every request (for tokens that expire). */
export type TokenSource = string | (() => string | undefined | Promise<string | undefined>);

export interface ClientOptions {
  /** The gateway's origin, e.g. `https://ops.example.com`; paths already start with /api/v1. */
  baseUrl: string;
  token?: TokenSource;
  /** Defaults to the global fetch (Node 20 and browsers). */
  fetch?: typeof globalThis.fetch;
  /** Makes the Idempotency-Key sent on a POST that has none; defaults to crypto.randomUUID. */
  idempotencyKey?: () => string;
  headers?: Record<string, string>;
}

type Raw = Client<Paths>;
type Method = "get" | "post" | "put" | "delete";
type RequiredKeys<T> = { [K in keyof T]-?: {} extends Pick<T, K> ? never : K }[keyof T];
// The init argument is optional exactly when the operation needs no path parameter or body.
type InitArg<I> = RequiredKeys<I> extends never ? [init?: I] : [init: I];
type Call<M extends Method> = <
  P extends ClientPathsWithMethod<Raw, M>,
  I extends MaybeOptionalInit<Paths[P], M>,
>(
  path: P,
  ...init: InitArg<I>
) => Promise<MethodResponse<Raw, M, P, I>>;

/**
 * The suite's API, typed from docs/openapi. Each call resolves to the success body and rejects
 * with a `ProblemError` for any non-2xx answer, so callers never branch on `error`.
 */
export interface OpsCenterApi {
  get: Call<"get">;
  post: Call<"post">;
  put: Call<"put">;
  delete: Call<"delete">;
}

/** Sets the bearer token and, on POSTs without one, a fresh Idempotency-Key. */
function authAndIdempotency(options: ClientOptions): Middleware {
  const newKey = options.idempotencyKey ?? (() => globalThis.crypto.randomUUID());
  return {
    async onRequest({ request }) {
      const token = typeof options.token === "function" ? await options.token() : options.token;
      if (token) request.headers.set("Authorization", `Bearer ${token}`);
      // A caller retrying a write passes the first attempt's key in params.header, kept here.
      if (request.method === "POST" && !request.headers.has("Idempotency-Key")) {
        request.headers.set("Idempotency-Key", newKey());
      }
      return request;
    },
  };
}

export function createApiClient(options: ClientOptions): OpsCenterApi {
  const raw = createFetchClient<Paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    headers: options.headers,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  raw.use(authAndIdempotency(options));
  const call =
    (method: "GET" | "POST" | "PUT" | "DELETE") =>
    async (path: string, init?: object): Promise<unknown> => {
      const send = raw[method] as (p: string, i?: object) => ReturnType<Raw["GET"]>;
      const { data, error, response } = await send(path, init);
      if (!response.ok) throw ProblemError.fromResponse(response, error);
      return data;
    };
  return {
    get: call("GET") as OpsCenterApi["get"],
    post: call("POST") as OpsCenterApi["post"],
    put: call("PUT") as OpsCenterApi["put"],
    delete: call("DELETE") as OpsCenterApi["delete"],
  };
}
