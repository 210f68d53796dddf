// The install flow, driven by the installer's dry-run plan: the plan (every plugin and
// version of the closure, in install order), one consent step for every permission, the
// config forms of the plugins that have one, price and trial, then live progress.
import { useMutation, useQueries, useQuery } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { Link } from "react-router-dom";
import { api, ApiError, describeError, newIdempotencyKey } from "../api/client";
import type { DryRunPlan, FieldError, InstallAccepted, InstallCreate, Installation, PlanRead, PluginDetail } from "../api/types";
import { ConfigForm } from "./ConfigForm";
import { PermissionList } from "./PermissionList";

type Step = "plan" | "consent" | "config" | "review" | "progress";
const STEPS: { id: Step; label: string }[] = [
  { id: "plan", label: "Plan" },
  { id: "consent", label: "Permissions" },
  { id: "config", label: "Configuration" },
  { id: "review", label: "Price and install" },
  { id: "progress", label: "Progress" },
];
type Config = Record<string, unknown>;
const FINAL_STATES = new Set(["enabled", "failed"]);

function body(slug: string, plan: PlanRead, configs: Record<string, Config>, dryRun: boolean): InstallCreate {
  const dependencyConfig = Object.fromEntries(
    plan.items.filter((i) => i.plugin !== slug && configs[i.plugin]).map((i) => [i.plugin, configs[i.plugin]]),
  );
  return {
    plugin: slug,
    config: configs[slug] ?? {},
    dependency_config: dependencyConfig,
    accept_permissions: plan.permissions as InstallCreate["accept_permissions"],
    plan: plan.items.map((i) => ({ plugin: i.plugin, version: i.version })),
    enable: true,
    dry_run: dryRun,
  };
}

/** The installer names config fields from the request's root: "config.api_key" for the
 * requested plugin, "dependency_config.<slug>.api_key" for a dependency. Each plugin's form
 * wants its own paths. */
export function configErrorsByPlugin(slug: string, errors: FieldError[]): Record<string, FieldError[]> {
  const out: Record<string, FieldError[]> = {};
  for (const error of errors) {
    const dependency = /^dependency_config\.([^.]+)\.?(.*)$/.exec(error.field);
    const own = /^config\.?(.*)$/.exec(error.field);
    const [plugin, field] = dependency ? [dependency[1], dependency[2]] : own ? [slug, own[1]] : [slug, error.field];
    (out[plugin] ??= []).push({ field, message: error.message });
  }
  return out;
}

function hasFields(schema: unknown): schema is Record<string, unknown> {
  const props = (schema as { properties?: object } | null)?.properties;
  return !!props && Object.keys(props).length > 0;
}

export function InstallWizard({ slug, pollMs = 1000 }: { slug: string; pollMs?: number }) {
  const [step, setStep] = useState<Step>("plan");
  const [consented, setConsented] = useState(false);
  const [configs, setConfigs] = useState<Record<string, Config>>({});
  const [errors, setErrors] = useState<Record<string, FieldError[]>>({});
  const [stepError, setStepError] = useState<string | null>(null);
  const [idempotencyKey] = useState(newIdempotencyKey);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [step]);

  const planQuery = useQuery({
    queryKey: ["install-plan", slug],
    queryFn: () => api<DryRunPlan>("/plugins/install", { method: "POST", body: { plugin: slug, dry_run: true } }),
    retry: false,
  });
  const plan = planQuery.data?.plan;
  // The forms come from each planned plugin's published config schema.
  const details = useQueries({
    queries: (plan?.items ?? []).map((item) => ({
      queryKey: ["plugin", item.plugin],
      queryFn: () => api<PluginDetail>(`/plugins/marketplace/${encodeURIComponent(item.plugin)}`),
    })),
  });
  const schemas: Record<string, Record<string, unknown>> = {};
  details.forEach((d, index) => {
    const item = plan?.items[index];
    const schema = d.data?.latest?.config_schema;
    if (item && hasFields(schema)) schemas[item.plugin] = schema;
  });

  const check = useMutation({
    mutationFn: (current: PlanRead) =>
      api<DryRunPlan>("/plugins/install", { method: "POST", body: body(slug, current, configs, true) }),
    onSuccess: (answer) => {
      setErrors(configErrorsByPlugin(slug, answer.plan.items.flatMap((i) => i.config_errors)));
      if (answer.plan.items.every((i) => i.config_errors.length === 0)) setStep("review");
    },
    onError: (e) => setStepError(describeError(e)),
  });
  const install = useMutation({
    mutationFn: (current: PlanRead) =>
      api<InstallAccepted>("/plugins/install", {
        method: "POST",
        body: body(slug, current, configs, false),
        headers: { "Idempotency-Key": idempotencyKey },
      }),
    onSuccess: () => setStep("progress"),
    onError: (e) => {
      if (e instanceof ApiError && e.problem?.type.endsWith("/config-invalid")) {
        setErrors(configErrorsByPlugin(slug, e.fieldErrors()));
        setStep("config");
      }
      setStepError(describeError(e));
    },
  });
  const progress = useQuery({
    queryKey: ["installation", slug],
    queryFn: () => api<Installation>(`/plugins/${encodeURIComponent(slug)}/installation`),
    enabled: step === "progress",
    refetchInterval: (q) => (q.state.data && FINAL_STATES.has(q.state.data.state) ? false : pollMs),
    retry: (count, e) => e instanceof ApiError && e.status === 404 && count < 30,
    retryDelay: pollMs,
  });

  const go = (next: Step) => {
    setStepError(null);
    setStep(next);
  };
  const current = STEPS.findIndex((s) => s.id === step);

  if (planQuery.isPending) return <p role="status">Working out the install plan…</p>;
  if (planQuery.isError)
    return (
      <div role="alert" className="error">
        The plan could not be made: {describeError(planQuery.error)}
      </div>
    );
  if (!plan) return null;
  const requested = plan.items.find((i) => i.plugin === slug);

  return (
    <div className="wizard">
      <ol className="steps" aria-label="Install steps">
        {STEPS.map((s, index) => (
          <li key={s.id} aria-current={s.id === step ? "step" : undefined} className={index < current ? "done" : ""}>
            {s.label}
          </li>
        ))}
      </ol>
      <h2 ref={heading} tabIndex={-1}>
        {STEPS[current].label}
      </h2>
      {stepError && (
        <div role="alert" className="error">
          {stepError}
        </div>
      )}

      {step === "plan" && (
        <>
          <p>Installing {slug} installs these plugins, in this order:</p>
          <table>
            <thead>
              <tr>
                <th scope="col">Plugin</th>
                <th scope="col">Version</th>
                <th scope="col">Why</th>
                <th scope="col">Signed</th>
              </tr>
            </thead>
            <tbody>
              {plan.items.map((item) => (
                <tr key={item.plugin}>
                  <td>{item.plugin}</td>
                  <td>
                    {item.version}
                    {item.yanked ? " (yanked)" : ""}
                  </td>
                  <td>{item.role === "requested" ? "Requested" : "Needed by another plugin"}</td>
                  <td>{item.signed ? "Signed" : "Not signed"}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {plan.kept.length > 0 && (
            <p>Already installed and kept: {plan.kept.map((k) => `${k.plugin} ${k.version}`).join(", ")}.</p>
          )}
          <div className="actions">
            <button type="button" onClick={() => go("consent")}>
              Continue to permissions
            </button>
          </div>
        </>
      )}

      {step === "consent" && (
        <>
          <PermissionList items={plan.items} />
          {plan.permissions.length > 0 && (
            <label className="check">
              <input type="checkbox" checked={consented} onChange={(e) => setConsented(e.target.checked)} />
              I grant these {plan.permissions.length} permission{plan.permissions.length === 1 ? "" : "s"}
            </label>
          )}
          <div className="actions">
            <button type="button" className="secondary" onClick={() => go("plan")}>
              Back
            </button>
            <button
              type="button"
              disabled={plan.permissions.length > 0 && !consented}
              onClick={() => go("config")}
            >
              Continue to configuration
            </button>
          </div>
        </>
      )}

      {step === "config" && (
        <>
          {Object.keys(schemas).length === 0 && <p>No plugin in this plan needs configuration.</p>}
          {plan.items
            .filter((item) => schemas[item.plugin])
            .map((item) => (
              <section key={item.plugin} aria-labelledby={`cfg-${item.plugin}`} className="config-section">
                <h3 id={`cfg-${item.plugin}`}>{item.plugin}</h3>
                <ConfigForm
                  id={`cfg-${item.plugin}`}
                  schema={schemas[item.plugin]}
                  formData={configs[item.plugin] ?? {}}
                  serverErrors={errors[item.plugin]}
                  onChange={(data) => setConfigs((all) => ({ ...all, [item.plugin]: data }))}
                  onSubmit={() => check.mutate(plan)}
                >
                  <></>
                </ConfigForm>
              </section>
            ))}
          <div className="actions">
            <button type="button" className="secondary" onClick={() => go("consent")}>
              Back
            </button>
            <button type="button" disabled={check.isPending} onClick={() => check.mutate(plan)}>
              {check.isPending ? "Checking…" : "Check configuration"}
            </button>
          </div>
        </>
      )}

      {step === "review" && (
        <>
          <table>
            <thead>
              <tr>
                <th scope="col">Plugin</th>
                <th scope="col">Price</th>
              </tr>
            </thead>
            <tbody>
              {plan.items.map((item) => (
                <tr key={item.plugin}>
                  <td>{item.plugin}</td>
                  <td>
                    {item.charge.detail}
                    {item.charge.trial_days ? ` (${item.charge.trial_days}-day trial)` : ""}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {plan.payment_required.length > 0 && (
            <p className="warning">A purchase is needed first for: {plan.payment_required.join(", ")}.</p>
          )}
          <div className="actions">
            <button type="button" className="secondary" onClick={() => go("config")}>
              Back
            </button>
            <button type="button" disabled={install.isPending} onClick={() => install.mutate(plan)}>
              {install.isPending ? "Installing…" : `Install ${slug}${requested ? ` ${requested.version}` : ""}`}
            </button>
          </div>
        </>
      )}

      {step === "progress" && <Progress installation={progress.data} error={progress.error} />}
    </div>
  );
}

function Progress({ installation, error }: { installation?: Installation; error: Error | null }) {
  if (error && !installation)
    return (
      <div role="alert" className="error">
        {describeError(error)}
      </div>
    );
  const states = installation?.history?.map((h) => h.to_state) ?? [];
  const state = installation?.state ?? "requested";
  return (
    <div>
      <p role="status" aria-live="polite" className={`state state-${state}`}>
        {state === "enabled" && "Enabled"}
        {state === "failed" && `Failed: ${installation?.reason ?? "no reason given"}`}
        {!FINAL_STATES.has(state) && `In progress: ${state}`}
      </p>
      {states.length > 0 && (
        <ol className="history" aria-label="States so far">
          {states.map((s, i) => (
            <li key={`${i}-${s}`}>{s}</li>
          ))}
        </ol>
      )}
      {FINAL_STATES.has(state) && <Link to="/dashboard">Go to the dashboard</Link>}
    </div>
  );
}
