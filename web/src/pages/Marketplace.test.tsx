import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useLocation } from "react-router-dom";
import { describe, expect, it } from "vitest";
import { fakeApi, renderWithApp } from "../test/render";
import { Marketplace } from "./Marketplace";

function Where() {
  const location = useLocation();
  return <output aria-label="url">{location.search}</output>;
}

const plugin = {
  id: "p1",
  slug: "alerts",
  name: "Alerts",
  description: "Sends alerts",
  type: "backend",
  category: "monitoring",
  tags: [],
  latest_version: "1.0.0",
  verified: true,
  featured: false,
  deprecated: false,
  pricing: { free: true },
  rating: { average: 4.5, count: 2, bayesian_average: 4 },
  install_count: 7,
  publisher: "acme",
};

describe("Marketplace", () => {
  it("searches once the typing pauses and keeps the search and facets in the URL", async () => {
    const user = userEvent.setup();
    const calls = fakeApi(({ path }) => {
      const q = new URL(path, "http://x").searchParams.get("q");
      return { status: 200, body: { items: q === "ale" ? [plugin] : [], facets: { category: { monitoring: 1 } } } };
    });
    renderWithApp(
      <>
        <Marketplace />
        <Where />
      </>,
      "/?sort=rating",
    );
    expect(await screen.findByText("No plugin matches this search.")).toBeInTheDocument();
    await user.type(screen.getByLabelText("Search plugins"), "ale");
    expect(await screen.findByRole("link", { name: "Alerts" })).toBeInTheDocument();
    expect(screen.getByLabelText("url")).toHaveTextContent("?sort=rating&q=ale");
    // One request for the page as it opened and one for the finished word, none per keystroke.
    const searches = calls.map((c) => new URL(c.path, "http://x").searchParams.get("q"));
    expect(searches).toEqual([null, "ale"]);
    expect(screen.getByText("Verified")).toBeInTheDocument();
    expect(screen.getByRole("img", { name: "Rated 4.5 out of 5 from 2 reviews" })).toBeInTheDocument();

    await user.selectOptions(screen.getByLabelText("Category"), "monitoring");
    await waitFor(() => expect(screen.getByLabelText("url")).toHaveTextContent("category=monitoring"));
    expect(new URL(calls.at(-1)!.path, "http://x").searchParams.get("category")).toBe("monitoring");
  });

  it("says so when the marketplace cannot be reached", async () => {
    fakeApi(() => ({ status: 503, body: { type: "x/service-unavailable", title: "Service unavailable", status: 503, detail: "The service behind this path is not answering; retry shortly" } }));
    renderWithApp(<Marketplace />);
    expect(await screen.findByRole("alert")).toHaveTextContent("not answering");
  });
});
