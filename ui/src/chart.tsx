// Charts through uPlot (see ARCHITECTURE.md, "Charts"): a small, fast canvas
// chart library. This wraps it as a Preact component that takes its colours
// from the theme's tokens, follows its box's width, and redraws when the data
// or the theme changes.
import { useEffect, useRef, useState } from "preact/hooks";
// Before uPlot: it reads the page's language when its module loads.
import "./locale-guard";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

/** One line or bar series of a chart. */
export interface ChartSeries {
  /** Its name in the legend. */
  label: string;
  /** One value per x (null: no value that day). */
  values: (number | null)[];
  /** A theme token (`--accent`, `--good`, …) or a colour. */
  color: string;
  /** Bars instead of a line. */
  bars?: boolean;
}

interface ChartProps {
  /** What the chart shows, for people who cannot see it. */
  label: string;
  /** The x values: days as `YYYY-MM-DD` (UTC). */
  days: string[];
  series: ChartSeries[];
  /** How a y value reads (axis and legend). */
  format: (value: number) => string;
  /** Canvas height in CSS pixels. */
  height?: number;
  /** Set by tests through the page: a stable name for the chart. */
  testId?: string;
}

/** The value of a theme token (`--accent`) on the page now, or `fallback`. */
function token(name: string, fallback = "#888"): string {
  if (!name.startsWith("--")) return name;
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** Seconds since the epoch of a UTC day. */
function dayToSeconds(day: string): number {
  return Date.parse(`${day}T00:00:00Z`) / 1000;
}

/** The page's theme attribute, followed as it changes (charts redraw in
 * the new colours). */
function useTheme(): string {
  const read = () => document.documentElement.getAttribute("data-theme") ?? "";
  const [theme, setTheme] = useState(read);
  useEffect(() => {
    const watch = new MutationObserver(() => setTheme(read()));
    watch.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    return () => watch.disconnect();
  }, []);
  return theme;
}

/** A line or bar chart over days. */
export function Chart({ label, days, series, format, height = 180, testId }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const theme = useTheme();
  useEffect(() => {
    const element = box.current;
    if (element === null) return;
    const text = token("--muted");
    // Grid lines as quiet as the page's own dividers.
    const grid = token("--line", "#232a3a");
    const barPaths = uPlot.paths.bars?.({ size: [0.7, 24] });
    const options: uPlot.Options = {
      width: Math.max(element.clientWidth, 240),
      height,
      // Days are UTC: show them as UTC, whatever the machine's zone.
      tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"),
      legend: { show: true, live: true },
      cursor: { points: { size: 6 } },
      scales: { x: { time: true } },
      axes: [
        { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
        {
          stroke: text,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid },
          size: 64,
          values: (_chart, ticks) => ticks.map((value) => format(value)),
        },
      ],
      series: [
        { label: "Day", value: (_chart, seconds) => (seconds == null ? "" : new Date(seconds * 1000).toISOString().slice(0, 10)) },
        ...series.map((entry) => {
          const color = token(entry.color);
          return {
            label: entry.label,
            stroke: color,
            width: entry.bars ? 0 : 2,
            fill: entry.bars ? color : undefined,
            paths: entry.bars ? barPaths : undefined,
            points: { show: false },
            value: (_chart: uPlot, value: number | null) => (value == null ? "–" : format(value)),
          } satisfies uPlot.Series;
        }),
      ],
    };
    const data: uPlot.AlignedData = [days.map(dayToSeconds), ...series.map((entry) => entry.values)];
    // The legend shows the latest day unless the pointer is over another.
    const latest = days.length - 1;
    options.hooks = {
      setCursor: [(chart) => {
        if (chart.cursor.idx == null && latest >= 0) chart.setLegend({ idx: latest });
      }],
    };
    const chart = new uPlot(options, data, element);
    if (latest >= 0) chart.setLegend({ idx: latest });
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(element.clientWidth, 240), height }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.destroy();
    };
  }, [days, series, format, height, theme]);
  return <div class="chart" ref={box} role="img" aria-label={label} data-testid={testId} />;
}
