// The JS SDK's client (sdk/js/dist, built by `make js-sdk`) against the running suite through the
// gateway; test_js_sdk.py passes the gateway and tokens in the environment and checks the JSON
// this prints. Every call goes through the typed client, as a plugin's code would make it.
import { createApiClient, ProblemError } from "../../sdk/js/dist/index.js";

const { GATEWAY, DEVELOPER_TOKEN, ADMIN_TOKEN, SLUG, RUN } = process.env;

/** The call's answer, or the ProblemError's fields (anything else is a bug and throws). */
async function outcome(promise) {
  try {
    return { ok: true, data: await promise };
  } catch (error) {
    if (!(error instanceof ProblemError)) throw error;
    return { ok: false, status: error.status, title: error.title, detail: error.detail, errors: error.errors, message: error.message };
  }
}

const anonymous = createApiClient({ baseUrl: GATEWAY });
const developer = createApiClient({ baseUrl: GATEWAY, token: DEVELOPER_TOKEN });
const admin = createApiClient({ baseUrl: GATEWAY, token: () => ADMIN_TOKEN });
const listing = { slug: SLUG, name: `JS SDK ${RUN}`, category: "security", type: "backend" };
const key = { "Idempotency-Key": `js-sdk-${RUN}` };

const result = {
  events: await outcome(anonymous.get("/api/v1/hooks/events")),
  installedAnonymous: await outcome(anonymous.get("/api/v1/plugins/installed")),
  installedAdmin: await outcome(admin.get("/api/v1/plugins/installed")),
  registerFirst: await outcome(developer.post("/api/v1/plugins/register", { body: listing, params: { header: key } })),
  registerRetried: await outcome(developer.post("/api/v1/plugins/register", { body: listing, params: { header: key } })),
  registerAgain: await outcome(developer.post("/api/v1/plugins/register", { body: listing })),
  installInvalid: await outcome(
    admin.post("/api/v1/plugins/install", { body: { plugin: SLUG, version: "not a range", dry_run: true } }),
  ),
  detail: await outcome(anonymous.get("/api/v1/plugins/marketplace/{slug}", { params: { path: { slug: `${SLUG}-missing` } } })),
};
process.stdout.write(JSON.stringify(result));
