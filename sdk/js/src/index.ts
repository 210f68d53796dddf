// Browser-safe entry point. Webhook verification needs node:crypto: import it from
// "@ops-center/plugin-sdk/webhooks".
export { createApiClient, type ClientOptions, type OpsCenterApi, type Paths, type TokenSource } from "./client.js";
export { ProblemError, type Problem, type FieldError } from "./problem.js";
export type * as api from "./generated/index.js";
export * from "./host/index.js";
