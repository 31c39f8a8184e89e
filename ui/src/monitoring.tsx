// The management window's Monitoring: agent runs over the last 30, 90 or
// 365 days — runs, errors, tokens and run time — in total, a day at a time,
// and for the graphs and users with the most runs. Choosing a graph or a
// user narrows everything to theirs. The server counts each run once, from
// the run.finished events devices and the server record.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, errorMessage, type GraphRuns, type RunFigures, type RunMonitoring, type UserRuns } from "./api";
import { Chart, type ChartSeries } from "./chart";
import { Notice, PeriodPicker, useNotice, type Period } from "./controls";


/** What the screen is narrowed to, if anything. */
type Focus = { kind: "graph"; id: string; name: string } | { kind: "user"; id: string; name: string } | null;

function count(value: number): string {
  return value.toLocaleString("en-US");
}

/** Large counts short: "2.91M", "48.2K"; under 10,000 as they are. */
function compact(value: number): string {
  if (Math.abs(value) < 10_000) return count(value);
  return value.toLocaleString("en-US", { notation: "compact", maximumSignificantDigits: 3 });
}

/** Milliseconds in words: "850 ms", "4.2 s", "3.1 min". */
export function duration(ms: number): string {
  if (ms < 1000) return `${count(Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/** A share of runs that failed: "2.5%"; no runs: "–". */
function errorRate(figures: RunFigures): string {
  return figures.runs === 0 ? "–" : `${((figures.errors / figures.runs) * 100).toFixed(1)}%`;
}

/** Nanodollars as dollars: "$0.42"; nothing known: "–". */
function cost(nanodollars: number): string {
  if (nanodollars === 0) return "–";
  return (nanodollars / 1e9).toLocaleString("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 4 });
}

export function Monitoring() {
  const [days, setDays] = useState<Period>(30);
  const [focus, setFocus] = useState<Focus>(null);
  const [seen, setSeen] = useState<RunMonitoring | null>(null);
  const [notice, say] = useNotice();
  useEffect(() => {
    let current = true;
    api
      .adminMonitoring(days, focus?.kind === "graph" ? focus.id : null, focus?.kind === "user" ? focus.id : null)
      .then((answer) => current && setSeen(answer))
      .catch((error: unknown) => current && say(errorMessage(error), "bad"));
    return () => {
      current = false;
    };
  }, [days, focus]);
  return (
    <section class="overview" aria-labelledby="monitoring-title">
      <div class="overview-head">
        <h1 id="monitoring-title">Monitoring</h1>
        <PeriodPicker days={days} choose={setDays} />
      </div>
      {focus !== null && (
        <p class="focus" data-testid="monitoring-focus">
          {focus.kind === "graph" ? "Only the runs of the graph " : "Only the runs of "}
          <strong>{focus.name}</strong>
          <button type="button" class="link" onClick={() => setFocus(null)}>
            Show every run
          </button>
        </p>
      )}
      <Notice said={notice} testId="monitoring-notice" />
      {seen === null ? <p class="empty">Loading the runs…</p> : <Runs seen={seen} focus={focus} setFocus={setFocus} />}
    </section>
  );
}

function Runs({ seen, focus, setFocus }: { seen: RunMonitoring; focus: Focus; setFocus: (focus: Focus) => void }) {
  const series = seen.series;
  const days = useMemo(() => series.map((point) => point.day), [series]);
  const charts = useMemo(
    () => ({
      runs: [
        // Errors drawn over the bottom of each day's runs: a stacked look.
        { label: "Runs", values: series.map((point) => point.runs), color: "--accent", bars: true },
        { label: "Errors", values: series.map((point) => point.errors), color: "--bad", bars: true },
      ] as ChartSeries[],
      tokens: [{ label: "Tokens", values: series.map((point) => point.tokens), color: "#7c5cff", bars: true }] as ChartSeries[],
      latency: [
        { label: "Mean", values: series.map((point) => (point.runs === 0 ? null : point.mean_latency_ms)), color: "--accent" },
        { label: "Longest", values: series.map((point) => (point.runs === 0 ? null : point.max_latency_ms)), color: "--warn" },
      ] as ChartSeries[],
    }),
    [series],
  );
  const countAxis = useMemo(() => (value: number) => count(Math.round(value)), []);
  const timeAxis = useMemo(() => (value: number) => duration(value), []);
  const totals = seen.totals;
  return (
    <>
      <p class="counts" data-testid="monitoring-window">
        {seen.from} to {seen.to} (UTC)
      </p>
      <ul class="figures" aria-label="Figures">
        <li data-figure="runs" title="Runs that finished, however they ended">
          <span class="figure-label">Runs</span>
          <strong class="figure-value">{count(totals.runs)}</strong>
          <span class="figure-change">{totals.cancelled > 0 ? `${count(totals.cancelled)} cancelled` : " "}</span>
        </li>
        <li data-figure="errors" title="Runs that ended in an error, and their share of all runs">
          <span class="figure-label">Errors</span>
          <strong class="figure-value">{count(totals.errors)}</strong>
          <span class={`figure-change${totals.errors > 0 ? " down" : ""}`}>{errorRate(totals)}</span>
        </li>
        <li data-figure="tokens" title="Prompt and answer tokens of every run">
          <span class="figure-label">Tokens</span>
          <strong class="figure-value" title={count(totals.tokens)}>{compact(totals.tokens)}</strong>
          <span class="figure-change">{cost(totals.cost_nanodollars)}</span>
        </li>
        <li data-figure="latency" title="Mean time from a run's start to its end, and the longest">
          <span class="figure-label">Mean run time</span>
          <strong class="figure-value">{totals.runs === 0 ? "–" : duration(totals.mean_latency_ms)}</strong>
          <span class="figure-change">{totals.runs === 0 ? " " : `longest ${duration(totals.max_latency_ms)}`}</span>
        </li>
      </ul>
      {totals.runs === 0 ? (
        <p class="empty" data-testid="no-runs">
          No run finished in these days. Runs appear here once the devices that ran them have synced.
        </p>
      ) : (
        <div class="charts">
          <figure>
            <figcaption>Runs and errors</figcaption>
            <Chart label="Runs and errors a day" days={days} series={charts.runs} format={countAxis} testId="chart-runs" />
          </figure>
          <figure>
            <figcaption>Tokens</figcaption>
            <Chart label="Tokens a day" days={days} series={charts.tokens} format={countAxis} testId="chart-tokens" />
          </figure>
          <figure>
            <figcaption>Run time</figcaption>
            <Chart label="Mean and longest run time a day" days={days} series={charts.latency} format={timeAxis} testId="chart-latency" />
          </figure>
        </div>
      )}
      {focus === null && totals.runs > 0 && (
        <div class="monitoring-tables">
          <RunTable
            title="Graphs with the most runs"
            rows={seen.graphs.map((graph: GraphRuns) => ({
              key: graph.graph_id,
              name: graph.name ?? "A graph not on the server",
              detail: graph.tenant_name,
              figures: graph,
              open: () => setFocus({ kind: "graph", id: graph.graph_id, name: graph.name ?? graph.graph_id }),
            }))}
          />
          <RunTable
            title="Users with the most runs"
            rows={seen.users.map((user: UserRuns) => ({
              key: user.user_id,
              name: user.email ?? "A deleted user",
              detail: "",
              figures: user,
              open: () => setFocus({ kind: "user", id: user.user_id, name: user.email ?? user.user_id }),
            }))}
          />
        </div>
      )}
    </>
  );
}

interface RunRow {
  key: string;
  name: string;
  detail: string;
  figures: RunFigures;
  open: () => void;
}

function RunTable({ title, rows }: { title: string; rows: RunRow[] }) {
  return (
    <table class="admin-table" aria-label={title}>
      <caption>{title}</caption>
      <thead>
        <tr>
          <th>Name</th>
          <th class="number">Runs</th>
          <th class="number">Errors</th>
          <th class="number">Tokens</th>
          <th class="number">Mean time</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr data-key={row.key}>
            <td>
              <button type="button" class="link user-open" onClick={row.open} title="Only these runs">
                {row.name}
              </button>
              {row.detail && <div class="counts">{row.detail}</div>}
            </td>
            <td class="number">{count(row.figures.runs)}</td>
            <td class="number">{count(row.figures.errors)}</td>
            <td class="number" title={count(row.figures.tokens)}>{compact(row.figures.tokens)}</td>
            <td class="number">{duration(row.figures.mean_latency_ms)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
