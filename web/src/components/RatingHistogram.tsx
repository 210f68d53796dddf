// The review histogram as a Chart.js bar chart, with the same numbers in a table for screen
// readers (a canvas has no text of its own).
import { BarController, BarElement, CategoryScale, Chart, LinearScale, Tooltip, type ChartConfiguration } from "chart.js";
import { useEffect, useRef } from "react";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip);

const STARS = ["5", "4", "3", "2", "1"] as const;

/** The chart's configuration: one bar per star count, 5 down to 1; missing counts are 0. */
export function histogramConfig(histogram: Record<string, number>): ChartConfiguration<"bar"> {
  return {
    type: "bar",
    data: {
      labels: STARS.map((s) => `${s} stars`),
      datasets: [{ label: "Reviews", data: STARS.map((s) => histogram[s] ?? 0), backgroundColor: "#1f6feb" }],
    },
    options: {
      indexAxis: "y",
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  };
}

export function RatingHistogram({ histogram, label }: { histogram: Record<string, number>; label: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!canvas.current) return;
    const chart = new Chart(canvas.current, histogramConfig(histogram));
    return () => chart.destroy();
  }, [histogram]);
  return (
    <figure className="chart">
      <div className="chart-canvas">
        <canvas ref={canvas} role="img" aria-label={label} />
      </div>
      {/* A table ignores a width smaller than its content: the wrapper does the hiding. */}
      <div className="visually-hidden">
      <table>
        <caption>{label}</caption>
        <tbody>
          {STARS.map((s) => (
            <tr key={s}>
              <th scope="row">{s} stars</th>
              <td>{histogram[s] ?? 0}</td>
            </tr>
          ))}
        </tbody>
      </table>
      </div>
    </figure>
  );
}
