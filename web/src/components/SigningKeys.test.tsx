import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { PublisherKeyRead } from "../api/types";
import { fakeApi, renderWithApp } from "../test/render";
import { SigningKeys } from "./SigningKeys";

const KEY = "MCowBQYDK2VwAyEAabcdefghijklmnopqrstuvwxyz0123456789ABCDEFG=";

function key(id: string, fingerprint: string, revoked: string | null = null): PublisherKeyRead {
  return { key_id: id, algorithm: "ed25519", fingerprint, public_key: KEY, created_at: "2026-12-08T00:00:00Z", revoked_at: revoked };
}

describe("SigningKeys", () => {
  it("lists keys, shows the server's refusal of a key with its reasons, and registers one", async () => {
    let keys = [key("k1", "SHA256:aaa"), key("k0", "SHA256:old", "2026-12-01T00:00:00Z")];
    const calls = fakeApi(({ method, body }) => {
      if (method === "GET") return { status: 200, body: { items: keys } };
      const sent = (body as { public_key: string }).public_key;
      if (sent === "not-a-key")
        return {
          status: 422,
          body: { type: "about:blank", title: "Unprocessable", status: 422, detail: "The public key is not valid", errors: [{ field: "public_key", message: "not an ed25519 public key" }] },
        };
      keys = [key("k2", "SHA256:new"), ...keys];
      return { status: 201, body: keys[0] };
    });
    renderWithApp(<SigningKeys />);
    const list = await screen.findByRole("list", { name: "Your signing keys" });
    expect(within(list).getAllByRole("listitem")).toHaveLength(2);
    expect(within(list).getByRole("listitem", { name: "Key SHA256:old" })).toHaveTextContent("Revoked");
    expect(within(list).getByRole("listitem", { name: "Key SHA256:aaa" })).toHaveTextContent("Active");
    // A revoked key offers no revoke button.
    expect(screen.queryByRole("button", { name: "Revoke key SHA256:old" })).toBeNull();

    const field = screen.getByLabelText(/Public key/);
    await userEvent.type(field, "not-a-key");
    await userEvent.click(screen.getByRole("button", { name: "Register key" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("The public key is not valid");
    expect(alert).toHaveTextContent("public_key not an ed25519 public key");
    expect(field).toHaveValue("not-a-key"); // kept to fix

    await userEvent.clear(field);
    await userEvent.type(field, KEY);
    await userEvent.click(screen.getByRole("button", { name: "Register key" }));
    expect(await screen.findByText("Key SHA256:new registered.")).toBeInTheDocument();
    await waitFor(() => expect(within(list).getAllByRole("listitem")).toHaveLength(3));
    expect(screen.queryByRole("alert")).toBeNull();
    expect(calls.filter((c) => c.method === "POST").map((c) => c.body)).toEqual([{ public_key: "not-a-key" }, { public_key: KEY }]);
  });

  it("revokes a key only after confirming, and cancel sends nothing", async () => {
    let keys = [key("k1", "SHA256:aaa")];
    const calls = fakeApi(({ method, path }) => {
      if (method === "GET") return { status: 200, body: { items: keys } };
      expect(path).toBe("/api/v1/plugins/publishers/me/keys/k1");
      keys = [key("k1", "SHA256:aaa", "2026-12-08T01:00:00Z")];
      return { status: 200, body: keys[0] };
    });
    renderWithApp(<SigningKeys />);
    await userEvent.click(await screen.findByRole("button", { name: "Revoke key SHA256:aaa" }));
    const cancel = within(screen.getByRole("group", { name: "Confirm revoking SHA256:aaa" })).getByRole("button", { name: "Cancel" });
    expect(cancel).toHaveFocus(); // the safe choice
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByRole("group", { name: "Confirm revoking SHA256:aaa" })).toBeNull();
    expect(screen.getByRole("button", { name: "Revoke key SHA256:aaa" })).toHaveFocus();
    await userEvent.click(screen.getByRole("button", { name: "Revoke key SHA256:aaa" }));
    await userEvent.click(screen.getByRole("button", { name: "Cancel" }));
    expect(calls.some((c) => c.method === "DELETE")).toBe(false);

    await userEvent.click(screen.getByRole("button", { name: "Revoke key SHA256:aaa" }));
    await userEvent.click(screen.getByRole("button", { name: "Yes, revoke" }));
    expect(await screen.findByText("Key SHA256:aaa revoked.")).toBeInTheDocument();
    await waitFor(() => expect(screen.getByRole("listitem", { name: "Key SHA256:aaa" })).toHaveTextContent("Revoked"));
    expect(screen.queryByRole("button", { name: "Revoke key SHA256:aaa" })).toBeNull();
    expect(calls.filter((c) => c.method === "DELETE")).toHaveLength(1);
  });

  it("shows the empty and failed states", async () => {
    fakeApi(() => ({ status: 200, body: { items: [] } }));
    const first = renderWithApp(<SigningKeys />);
    expect(await screen.findByText("No signing key registered yet.")).toBeInTheDocument();
    first.unmount();
    fakeApi(() => ({ status: 403, body: { type: "about:blank", title: "Forbidden", status: 403, detail: "The token has no publisher_id" } }));
    renderWithApp(<SigningKeys />);
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load your signing keys: The token has no publisher_id");
  });
});
