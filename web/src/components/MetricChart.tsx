// One time-series chart (Chart.js bars and lines on a shared time axis), with its numbers in
// a visually hidden table: a canvas has no text of its own for screen readers or tests.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
} from "chart.js";
import { useEffect, useRef } from "react";

Chart.register(BarController, BarElement, LineController, LineElement, PointElement, CategoryScale, LinearScale, Tooltip, Legend);

export type Series = { label: string; values: (number | null)[]; kind: "bar" | "line"; color: string };
export type ChartSpec = {
  id: string;
  title: string;
  labels: string[];
  series: Series[];
  /** Bars stacked on each other (parts of one whole, e.g. the revenue split). */
  stacked?: boolean;
  /** Counts: the axis shows whole numbers only. */
  integer?: boolean;
  /** How a value reads in the table, e.g. "12.5 ms". */
  format?: (value: number) => string;
};

export function chartConfig(spec: ChartSpec): ChartConfiguration {
  return {
    type: "bar",
    data: {
      labels: spec.labels,
      datasets: spec.series.map((s) => ({
        type: s.kind,
        label: s.label,
        data: s.values,
        backgroundColor: s.color,
        borderColor: s.color,
        spanGaps: true,
      })),
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { position: "bottom" } },
      scales: {
        x: { stacked: !!spec.stacked },
        y: { stacked: !!spec.stacked, beginAtZero: true, ticks: spec.integer ? { precision: 0 } : {} },
      },
    },
  } as ChartConfiguration;
}

export function MetricChart({ spec }: { spec: ChartSpec }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!canvas.current) return;
    const chart = new Chart(canvas.current, chartConfig(spec));
    return () => chart.destroy();
  }, [spec]);
  const show = (v: number | null) => (v === null ? "none" : spec.format ? spec.format(v) : String(v));
  return (
    <figure className="chart metric-chart" aria-labelledby={`${spec.id}-title`}>
      <figcaption id={`${spec.id}-title`}>{spec.title}</figcaption>
      <div className="chart-canvas">
        <canvas ref={canvas} role="img" aria-label={spec.title} />
      </div>
      {/* A table ignores a width smaller than its content: the wrapper does the hiding. */}
      <div className="visually-hidden">
      <table>
        <caption>{spec.title}</caption>
        <thead>
          <tr>
            <th scope="col">Period</th>
            {spec.series.map((s) => (
              <th key={s.label} scope="col">
                {s.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {spec.labels.map((label, row) => (
            <tr key={label}>
              <th scope="row">{label}</th>
              {spec.series.map((s) => (
                <td key={s.label}>{show(s.values[row] ?? null)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      </div>
    </figure>
  );
}
