/** One reason a request was refused, naming the offending field (`body.config.api_key`). */
export interface FieldError {
  field: string;
  message: string;
}

/** An RFC 9457 problem as every Ops Center service answers it (`application/problem+json`). */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
  instance?: string;
  [extension: string]: unknown;
}

/**
 * A request the API refused (any status other than 2xx). `problem` is the parsed body; when the
 * body was not problem+json (a proxy's HTML page, an empty answer) it is built from the status
 * so callers can always read `title`, `detail` and `errors`.
 */
export class ProblemError extends Error {
  readonly status: number;
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(ProblemError.describe(problem));
    this.name = "ProblemError";
    this.status = problem.status;
    this.problem = problem;
  }

  get type(): string {
    return this.problem.type;
  }
  get title(): string {
    return this.problem.title;
  }
  get detail(): string {
    return this.problem.detail;
  }
  get errors(): FieldError[] {
    return this.problem.errors ?? [];
  }

  /** Builds the error from a response and its already-read body (parsed JSON or text). */
  static fromResponse(response: Response, body: unknown): ProblemError {
    if (isProblem(body)) return new ProblemError({ ...body, status: body.status || response.status });
    const text = typeof body === "string" ? body.trim() : "";
    return new ProblemError({
      type: "about:blank",
      title: response.statusText || `HTTP ${response.status}`,
      status: response.status,
      detail: text.slice(0, 500) || `the server answered ${response.status} without a problem body`,
    });
  }

  /** One readable line per reason: "Conflict: slug taken (body.slug: already registered)". */
  static describe(problem: Problem): string {
    const fields = (problem.errors ?? []).map((e) => `${e.field}: ${e.message}`);
    const head = problem.detail ? `${problem.title}: ${problem.detail}` : problem.title;
    return fields.length ? `${head} (${fields.join("; ")})` : head;
  }
}

function isProblem(body: unknown): body is Problem {
  if (typeof body !== "object" || body === null) return false;
  const b = body as Record<string, unknown>;
  return typeof b.title === "string" && typeof b.status === "number";
}
