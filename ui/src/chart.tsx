// Charts through uPlot (see ARCHITECTURE.md, "Charts"): a small, fast canvas
// chart library. This wraps it as a Preact component that takes its colours
// from the theme's tokens, follows its box's width, and redraws when the data
// or the theme changes. The x axis is either days (the overview's charts) or
// named categories side by side (the billing screen's usage against limits).
// A chart with a `testId` tells tests what it plotted, read back from uPlot:
// `window.__charts[testId]()` (see `PlottedChart`).
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
  /** Bars only: a token or colour for each bar, in place of `color` (a
   * bar that is nearly full drawn in `--bad`, say). */
  colors?: string[];
}

/** What a chart plotted, as tests read it through `window.__charts`. */
export interface PlottedChart {
  /** Each x as the legend words it: a day (`YYYY-MM-DD`) or a category's name. */
  x: string[];
  series: {
    label: string;
    values: (number | null)[];
    /** The colour each bar was filled with (bar series with `colors`), else null. */
    colors: string[] | null;
  }[];
}

declare global {
  interface Window {
    /** Each chart on screen that has a `testId`, by that id: what it plotted. */
    __charts?: Record<string, () => PlottedChart>;
  }
}

interface ChartOptions {
  /** What the chart shows, for people who cannot see it. */
  label: string;
  series: ChartSeries[];
  /** How a y value reads (axis and legend). */
  format: (value: number) => string;
  /** Canvas height in CSS pixels. */
  height?: number;
  /** The y axis from and to, instead of fitting the values (0–100 for shares). */
  yRange?: [number, number];
  /** The live legend under the chart, and the cursor that drives it (on by
   * default); off where the screen writes the values out itself. */
  legend?: boolean;
  /** A stable name for the chart: tests find it by this (`data-testid`) and
   * read what it plotted from `window.__charts`. */
  testId?: string;
}

/** The x values: days over time, or named categories side by side. */
type ChartX =
  | {
      /** Days as `YYYY-MM-DD` (UTC). */
      days: string[];
      categories?: never;
    }
  | {
      /** Names, one per x (a bar each), in the order they stand. */
      categories: string[];
      days?: never;
    };

type ChartProps = ChartOptions & ChartX;

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

/** A line or bar chart over days, or a bar chart of named categories. */
export function Chart({ label, days, categories, series, format, height = 180, yRange, legend = true, testId }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const theme = useTheme();
  useEffect(() => {
    const element = box.current;
    if (element === null) return;
    const text = token("--muted");
    // Grid lines as quiet as the page's own dividers.
    const grid = token("--line", "#232a3a");
    const named = categories !== undefined;
    // Categories stand at 0, 1, 2, … and read as their names; days are seconds.
    const xs = named ? categories.map((_name, index) => index) : days.map(dayToSeconds);
    const xWords = (x: number | null): string =>
      x == null ? "" : named ? (categories[x] ?? "") : new Date(x * 1000).toISOString().slice(0, 10);
    const barPaths = uPlot.paths.bars?.({ size: [0.7, 24] });
    // Each series' bar colours, where it has its own per bar.
    const barColors = series.map((entry) => (entry.bars && entry.colors ? entry.colors.map((color) => token(color)) : null));
    const xAxis: uPlot.Axis = named
      ? {
          stroke: text,
          grid: { show: false },
          ticks: { show: false },
          // One line of names under the bars, without a time axis' second line.
          size: 32,
          splits: () => xs,
          values: (_chart, ticks) => ticks.map((x) => xWords(x)),
        }
      : { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
    const options: uPlot.Options = {
      width: Math.max(element.clientWidth, 240),
      height,
      // Days are UTC: show them as UTC, whatever the machine's zone.
      tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"),
      legend: { show: legend, live: true },
      cursor: legend ? { points: { size: 6 } } : { show: false },
      scales: {
        // Categories: half a column of room either side of the first and last.
        x: named ? { time: false, range: [-0.5, Math.max(xs.length, 1) - 0.5] } : { time: true },
        // Bars stand on zero: a bar from a fitted floor would overstate the
        // differences between days.
        ...(yRange
          ? { y: { range: yRange } }
          : series.some((entry) => entry.bars)
            ? { y: { range: (_chart: uPlot, min: number, max: number) => uPlot.rangeNum(Math.min(0, min), Math.max(0, max), 0.1, true) } }
            : {}),
      },
      axes: [
        xAxis,
        {
          stroke: text,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid },
          size: 64,
          values: (_chart, ticks) => ticks.map((value) => format(value)),
        },
      ],
      series: [
        { label: named ? "" : "Day", value: (_chart, x) => xWords(x) },
        ...series.map((entry, index) => {
          const color = token(entry.color);
          const fills = barColors[index];
          // Bars of categories are wider (a few stand side by side), in their own colours where given.
          const paths = !entry.bars
            ? undefined
            : named || fills
              ? uPlot.paths.bars?.({
                  size: named ? [0.6, 56] : [0.7, 24],
                  disp: fills ? { fill: { unit: 3, values: () => fills } } : undefined,
                })
              : barPaths;
          return {
            label: entry.label,
            stroke: color,
            width: entry.bars ? 0 : 2,
            fill: entry.bars ? color : undefined,
            paths,
            points: { show: false },
            value: (_chart: uPlot, value: number | null) => (value == null ? "–" : format(value)),
          } satisfies uPlot.Series;
        }),
      ],
    };
    const data: uPlot.AlignedData = [xs, ...series.map((entry) => entry.values)];
    // Over days, the legend shows the latest day unless the pointer is over another.
    const latest = named ? -1 : xs.length - 1;
    options.hooks = {
      setCursor: [(chart) => {
        if (chart.cursor.idx == null && latest >= 0) chart.setLegend({ idx: latest });
      }],
    };
    const chart = new uPlot(options, data, element);
    if (latest >= 0) chart.setLegend({ idx: latest });
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(element.clientWidth, 240), height }));
    resize.observe(element);
    // What was plotted, read back from the chart itself rather than from the props.
    const plotted = (): PlottedChart => ({
      x: Array.from(chart.data[0], (x) => xWords(x)),
      series: chart.series.slice(1).map((entry, index) => ({
        label: String(entry.label ?? ""),
        values: Array.from(chart.data[index + 1] as (number | null | undefined)[], (value) => value ?? null),
        colors: barColors[index],
      })),
    });
    if (testId !== undefined) (window.__charts ??= {})[testId] = plotted;
    return () => {
      if (testId !== undefined && window.__charts?.[testId] === plotted) delete window.__charts[testId];
      resize.disconnect();
      chart.destroy();
    };
  }, [days, categories, series, format, height, yRange, legend, theme, testId]);
  return <div class="chart" ref={box} role="img" aria-label={label} data-testid={testId} />;
}
