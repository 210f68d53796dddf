import { render, screen, within } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";

// jsdom has no canvas: the Chart class is replaced by a spy that records what it was given.
const created: { canvas: unknown; config: { data: { labels: string[]; datasets: { data: number[] }[] } } }[] = [];
const destroyed = vi.fn();
vi.mock("chart.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("chart.js")>();
  class FakeChart {
    static register = vi.fn();
    constructor(canvas: unknown, config: never) {
      created.push({ canvas, config });
    }
    destroy = destroyed;
  }
  return { ...real, Chart: FakeChart };
});

const { RatingHistogram, histogramConfig } = await import("./RatingHistogram");

describe("RatingHistogram", () => {
  beforeEach(() => {
    created.length = 0;
    destroyed.mockClear();
  });

  it("draws one bar per star, five first, with zero for missing counts", () => {
    const config = histogramConfig({ "5": 3, "1": 1 });
    expect(config.data.labels).toEqual(["5 stars", "4 stars", "3 stars", "2 stars", "1 stars"]);
    expect(config.data.datasets[0].data).toEqual([3, 0, 0, 0, 1]);
  });

  it("creates the chart on its canvas, redraws on new data and offers the numbers as a table", () => {
    const { rerender, unmount } = render(<RatingHistogram histogram={{ "4": 2 }} label="Ratings" />);
    expect(created).toHaveLength(1);
    expect(created[0].canvas).toBe(screen.getByRole("img", { name: "Ratings" }));
    const table = screen.getByRole("table", { name: "Ratings" });
    expect(within(table).getByRole("row", { name: "4 stars 2" })).toBeInTheDocument();

    rerender(<RatingHistogram histogram={{ "4": 2, "5": 1 }} label="Ratings" />);
    expect(destroyed).toHaveBeenCalledTimes(1);
    expect(created[1].config.data.datasets[0].data).toEqual([1, 2, 0, 0, 0]);
    unmount();
    expect(destroyed).toHaveBeenCalledTimes(2);
  });
});
