// The management window's Overview: the server's users, subscriptions and
// revenue over the last 30, 90 or 365 days, each figure beside the window
// before, and charts of a point a day. The server computes every figure from
// its event log (definitions in ARCHITECTURE.md, "Revenue figures").
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, errorMessage, type AdminOverview, type OverviewDay, type WindowFigures } from "./api";
import { Chart, type ChartSeries } from "./chart";
import { Notice, PeriodPicker, useNotice, type Period } from "./controls";


/** Cents as dollars: "$1,234" (whole) or "$12.34" (under $100). */
export function money(cents: number): string {
  const dollars = cents / 100;
  const whole = Math.abs(dollars) >= 100;
  return dollars.toLocaleString("en-US", {
    style: "currency",
    currency: "USD",
    minimumFractionDigits: whole ? 0 : 2,
    maximumFractionDigits: whole ? 0 : 2,
  });
}

/** A share as a percentage with one decimal: "12.5%"; no value: "–". */
function percent(share: number | null | undefined): string {
  return share == null ? "–" : `${(share * 100).toFixed(1)}%`;
}

function count(value: number): string {
  return value.toLocaleString("en-US");
}

interface Figure {
  key: string;
  label: string;
  value: string;
  /** The change against the window before, in words, and whether it is good news. */
  change: { text: string; good: boolean | null } | null;
  hint: string;
}

/** The change of a figure against the window before. */
function change(now: number | null | undefined, before: number | null | undefined, show: (delta: number) => string, higherIsBetter = true): Figure["change"] {
  if (now == null || before == null) return null;
  const delta = now - before;
  if (delta === 0) return { text: "no change", good: null };
  const sign = delta > 0 ? "+" : "−";
  return { text: `${sign}${show(Math.abs(delta))}`, good: delta > 0 === higherIsBetter };
}

function figures(now: WindowFigures, before: WindowFigures): Figure[] {
  const points = (delta: number) => `${(delta * 100).toFixed(1)} pts`;
  return [
    { key: "mrr", label: "MRR", value: money(now.mrr_cents), change: change(now.mrr_cents, before.mrr_cents, money), hint: "Monthly recurring revenue of active and past-due subscriptions" },
    { key: "arr", label: "ARR", value: money(now.arr_cents), change: change(now.arr_cents, before.arr_cents, money), hint: "12 × MRR" },
    { key: "net_new_mrr", label: "Net new MRR", value: money(now.net_new_mrr_cents), change: change(now.net_new_mrr_cents, before.net_new_mrr_cents, money), hint: "New + reactivation + expansion − contraction − churn" },
    { key: "arpu", label: "ARPU", value: now.arpu_cents == null ? "–" : money(now.arpu_cents), change: change(now.arpu_cents, before.arpu_cents, money), hint: "MRR ÷ paying subscriptions" },
    { key: "revenue_churn", label: "Revenue churn", value: percent(now.revenue_churn), change: change(now.revenue_churn, before.revenue_churn, points, false), hint: "MRR lost to cancellations and downgrades ÷ MRR at the start" },
    { key: "paying", label: "Subscribers", value: count(now.paying_subscriptions), change: change(now.paying_subscriptions, before.paying_subscriptions, count), hint: "Paying subscriptions: those adding to MRR" },
    { key: "subscriber_churn", label: "Subscriber churn", value: percent(now.subscriber_churn), change: change(now.subscriber_churn, before.subscriber_churn, points, false), hint: "Subscriptions churned ÷ (paying at the start + started within)" },
    { key: "trials", label: "Trials", value: count(now.trials), change: now.trial_conversion == null ? null : { text: `${percent(now.trial_conversion)} converted`, good: null }, hint: "Subscriptions in a trial now; share of trials ended in this window that became paying" },
    { key: "users", label: "Users", value: count(now.users_total), change: { text: `+${count(now.users_new)} new`, good: now.users_new > 0 ? true : null }, hint: "Accounts on the server, and how many registered in this window" },
  ];
}

/** The figures and the charts of one window. */
export function Overview() {
  const [days, setDays] = useState<Period>(30);
  const [overview, setOverview] = useState<AdminOverview | null>(null);
  const [notice, say] = useNotice();
  useEffect(() => {
    let current = true;
    api
      .adminOverview(days)
      .then((answer) => current && setOverview(answer))
      .catch((error: unknown) => current && say(errorMessage(error), "bad"));
    return () => {
      current = false;
    };
  }, [days]);
  return (
    <section class="overview" aria-labelledby="overview-title">
      <div class="overview-head">
        <h1 id="overview-title">Overview</h1>
        <PeriodPicker days={days} choose={setDays} />
      </div>
      <Notice said={notice} testId="overview-notice" />
      {overview === null ? <p class="empty">Loading the figures…</p> : <Figures overview={overview} />}
    </section>
  );
}

function Figures({ overview }: { overview: AdminOverview }) {
  const series = overview.series as OverviewDay[];
  const days = useMemo(() => series.map((point) => point.day), [series]);
  const charts = useMemo(() => {
    const values = (pick: (point: OverviewDay) => number) => series.map(pick);
    const dollars = (pick: (point: OverviewDay) => number) => series.map((point) => pick(point) / 100);
    return {
      mrr: [{ label: "MRR", values: dollars((p) => p.mrr_cents), color: "--accent" }] as ChartSeries[],
      movements: [
        { label: "New", values: dollars((p) => p.new_mrr_cents), color: "--good", bars: true },
        { label: "Reactivation", values: dollars((p) => p.reactivation_mrr_cents), color: "--accent", bars: true },
        { label: "Expansion", values: dollars((p) => p.expansion_mrr_cents), color: "#7c5cff", bars: true },
        { label: "Contraction", values: dollars((p) => -p.contraction_mrr_cents), color: "--warn", bars: true },
        { label: "Churn", values: dollars((p) => -p.churned_mrr_cents), color: "--bad", bars: true },
      ] as ChartSeries[],
      subscriptions: [
        { label: "Paying", values: values((p) => p.paying_subscriptions), color: "--accent" },
        { label: "Trials", values: values((p) => p.trials), color: "--warn" },
      ] as ChartSeries[],
      users: [
        { label: "Users", values: values((p) => p.users_total), color: "--accent" },
        { label: "New", values: values((p) => p.users_new), color: "--good", bars: true },
      ] as ChartSeries[],
    };
  }, [series]);
  const dollarAxis = useMemo(() => (value: number) => money(Math.round(value * 100) || 0), []);
  const countAxis = useMemo(() => (value: number) => count(Math.round(value)), []);
  return (
    <>
      <p class="counts" data-testid="overview-window">
        {overview.from} to {overview.to} (UTC), compared with the {overview.days} days before
      </p>
      <ul class="figures" aria-label="Figures">
        {figures(overview.figures as WindowFigures, overview.previous as WindowFigures).map((figure) => (
          <li data-figure={figure.key} title={figure.hint}>
            <span class="figure-label">{figure.label}</span>
            <strong class="figure-value">{figure.value}</strong>
            {figure.change !== null && (
              <span class={`figure-change${figure.change.good === true ? " up" : figure.change.good === false ? " down" : ""}`}>{figure.change.text}</span>
            )}
          </li>
        ))}
      </ul>
      <div class="charts">
        <figure>
          <figcaption>MRR</figcaption>
          <Chart label="MRR a day" days={days} series={charts.mrr} format={dollarAxis} testId="chart-mrr" />
        </figure>
        <figure>
          <figcaption>MRR movements</figcaption>
          <Chart label="MRR movements a day" days={days} series={charts.movements} format={dollarAxis} testId="chart-movements" />
        </figure>
        <figure>
          <figcaption>Subscriptions</figcaption>
          <Chart label="Paying subscriptions and trials a day" days={days} series={charts.subscriptions} format={countAxis} testId="chart-subscriptions" />
        </figure>
        <figure>
          <figcaption>Users</figcaption>
          <Chart label="Users and registrations a day" days={days} series={charts.users} format={countAxis} testId="chart-users" />
        </figure>
      </div>
    </>
  );
}
