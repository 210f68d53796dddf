import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { Delivery } from "../api/types";
import { fakeApi, renderWithApp } from "../test/render";
import { DeliveryLog } from "./DeliveryLog";

function delivery(id: string, status: Delivery["status"], attempts: number): Delivery {
  return {
    id,
    installation_id: "inst",
    event_id: `ev-${id}`,
    event_type: "device.created",
    target: "webhook",
    status,
    attempts,
    last_status_code: status === "succeeded" ? 200 : 503,
    last_error: status === "succeeded" ? null : "503 Service Unavailable",
    next_attempt_at: status === "pending" ? "2026-12-08T01:00:00Z" : null,
    created_at: "2026-12-08T00:00:00Z",
    updated_at: "2026-12-08T00:00:00Z",
    attempt_log: Array.from({ length: attempts }, (_, n) => ({
      attempt: n + 1,
      started_at: "2026-12-08T00:00:00Z",
      outcome: n + 1 === attempts && status === "succeeded" ? "succeeded" : "failed",
      status_code: n + 1 === attempts && status === "succeeded" ? 200 : 503,
      error: null,
      latency_ms: 42,
      cause: null,
    })),
  } as Delivery;
}

const base = "/api/v1/plugins/pid/hooks";

describe("DeliveryLog", () => {
  it("lists deliveries with every attempt, pages by cursor and filters", async () => {
    const calls = fakeApi(({ path }) => {
      if (path === "/api/v1/hooks/events") return { status: 200, body: { items: [{ name: "device.created", permission: "api:devices:read", description: "", example: {} }] } };
      const url = new URL(path, "http://x");
      if (url.searchParams.get("status") === "dead_lettered") return { status: 200, body: { items: [], next_cursor: null } };
      if (url.searchParams.get("cursor") === "c2") return { status: 200, body: { items: [delivery("d3", "pending", 1)], next_cursor: null } };
      return { status: 200, body: { items: [delivery("d1", "succeeded", 2), delivery("d2", "failed", 1)], next_cursor: "c2" } };
    });
    renderWithApp(<DeliveryLog pluginId="pid" slug="app" refetchMs={0} />);
    const list = await screen.findByRole("list", { name: "Deliveries to app" });
    expect(within(list).getAllByRole("listitem")).toHaveLength(2);
    const first = within(list).getByRole("listitem", { name: /device.created Succeeded/ });
    expect(first).toHaveTextContent("2 attempts");
    const attempts = within(first).getByRole("table", { name: "Attempts of delivery d1", hidden: true });
    expect(within(attempts).getAllByRole("row", { hidden: true })).toHaveLength(3);
    expect(within(list).getByRole("listitem", { name: /Failed/ })).toHaveTextContent("Last error: 503 Service Unavailable");

    await userEvent.click(screen.getByRole("button", { name: "Older deliveries" }));
    await waitFor(() => expect(within(list).getAllByRole("listitem")).toHaveLength(3));
    const pending = within(list).getByRole("listitem", { name: /Pending/ });
    expect(within(pending).queryByRole("button", { name: /Replay/ })).toBeNull(); // still running
    expect(calls.some((c) => c.path.includes("cursor=c2"))).toBe(true);
    expect(screen.queryByRole("button", { name: "Older deliveries" })).toBeNull();

    await userEvent.selectOptions(screen.getByLabelText("Status"), "dead_lettered");
    expect(await screen.findByText("No delivery matches these filters.")).toBeInTheDocument();
    expect(calls.at(-1)!.path).toBe(`${base}/deliveries?status=dead_lettered&limit=20`);
  });

  it("replays one delivery and a window", async () => {
    const calls = fakeApi(({ method, path }) => {
      if (path === "/api/v1/hooks/events") return { status: 200, body: { items: [] } };
      if (method === "POST" && path === `${base}/deliveries/d1/replay`) return { status: 202, body: delivery("d1", "pending", 1) };
      if (method === "POST" && path === `${base}/replay`) return { status: 202, body: { count: 3 } };
      // Replayed once already: `attempts` counts the current schedule, the log every attempt.
      return { status: 200, body: { items: [{ ...delivery("d1", "failed", 2), attempts: 1 }], next_cursor: null } };
    });
    renderWithApp(<DeliveryLog pluginId="pid" slug="app" refetchMs={0} />);
    const item = await screen.findByRole("listitem", { name: /device.created Failed/ });
    expect(item).toHaveTextContent("2 attempts");
    await userEvent.click(within(item).getByRole("button", { name: /^Replay/ }));
    expect(await within(item).findByRole("status")).toHaveTextContent("Sent again");
    const one = calls.find((c) => c.path.endsWith("/deliveries/d1/replay"))!;
    expect(one.headers["Idempotency-Key"]).toBeTruthy();

    const form = screen.getByRole("form", { name: "Replay a time window" });
    await userEvent.selectOptions(within(form).getByLabelText("Only those that"), "dead_lettered");
    await userEvent.click(within(form).getByRole("button", { name: "Replay the window" }));
    expect(await within(form).findByRole("status")).toHaveTextContent("3 deliveries queued again.");
    const window = calls.find((c) => c.path === `${base}/replay`)!;
    expect(window.body).toMatchObject({ status: "dead_lettered" });
    expect(Date.now() - Date.parse((window.body as { since: string }).since)).toBeGreaterThan(3500_000);
  });

  it("says why the log could not be read", async () => {
    fakeApi(({ path }) =>
      path === "/api/v1/hooks/events" ? { status: 200, body: { items: [] } } : { status: 403, body: { type: "about:blank", title: "Forbidden", status: 403, detail: "Not a tenant admin" } },
    );
    renderWithApp(<DeliveryLog pluginId="pid" slug="app" refetchMs={0} />);
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load deliveries: Not a tenant admin");
  });
});
