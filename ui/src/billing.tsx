// The billing screen: plans, the current plan and subscription, usage against
// limits as a bar chart (uPlot, through chart.tsx) beside its words,
// invoices, trial days. Upgrading and managing open Stripe's pages in the
// browser through the shell.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, type BillingOverview, type MetricUsage, type Plan } from "./api";
import { describeAccountError } from "./account";
import { Chart, type ChartSeries } from "./chart";
import { ActionButton, Notice, useNotice, type Say } from "./controls";

const METRIC_NAMES: Record<MetricUsage["metric"], string> = {
  runs: "Agent runs",
  tokens: "Tokens",
  api_calls: "API calls",
  graphs: "Graphs",
  seats: "Seats",
};

/** "$19 / month", "No charge". */
export function describePrice(plan: Plan): string {
  if (plan.price_cents === 0) return "No charge";
  const dollars = plan.price_cents % 100 === 0 ? String(plan.price_cents / 100) : (plan.price_cents / 100).toFixed(2);
  return `$${dollars} / ${plan.interval}`;
}

/** "$19.00", "€9.50": an invoice's amount (in cents) in its currency. */
export function describeAmount(cents: number, currency: string): string {
  try {
    return new Intl.NumberFormat("en-US", { style: "currency", currency: currency.toUpperCase() }).format(cents / 100);
  } catch {
    // A currency code Intl does not know: the figure and the code.
    return `${(cents / 100).toFixed(2)} ${currency.toUpperCase()}`;
  }
}

/** Stripe's invoice statuses in words: "Paid", "Open", "Void", "Uncollectible", "Draft". */
export function describeInvoiceStatus(status: string): string {
  return status.length === 0 ? status : `${status[0].toUpperCase()}${status.slice(1).replace(/_/g, " ")}`;
}

/** "12 of 100", "12 used · Unlimited", "Not included in this plan". */
export function describeUsage(metric: MetricUsage): string {
  const used = metric.used.toLocaleString("en-US");
  if (metric.limit === null) return `${used} used · Unlimited`;
  if (metric.limit === 0 && metric.used === 0) return "Not included in this plan";
  return `${used} of ${metric.limit.toLocaleString("en-US")}`;
}

/** How full a limit is, 0–100 (past the limit still 100), for the chart;
 * null where there is no limit to fill: unlimited, or not in the plan. */
export function share(metric: MetricUsage): number | null {
  if (metric.limit === null) return null;
  if (metric.limit === 0) return metric.used > 0 ? 100 : null;
  return Math.min(100, Math.round((metric.used / metric.limit) * 100));
}

/** From this share of a limit on, its bar looks full (drawn in `--bad`). */
const FULL_FROM = 90;

/** The chart's y axis: shares of a limit. */
const SHARE_RANGE: [number, number] = [0, 100];

/** A share on the chart's axis: "75%". */
const percent = (value: number) => `${Math.round(value)}%`;

/** Usage against limits: a bar per metric (the share of its limit used, on a
 * track that stands for the limit) beside its words, "Tokens: 150,000 of
 * 200,000", which also say what the chart cannot draw (unlimited, not in the plan). */
function UsageAgainstLimits({ metrics, labelledBy }: { metrics: MetricUsage[]; labelledBy: string }) {
  const chart = useMemo(() => {
    const shares = metrics.map(share);
    const series: ChartSeries[] = [
      // Drawn first, under the bars: the whole of each limit.
      { label: "Limit", values: shares.map((used) => (used === null ? null : 100)), color: "--track", bars: true },
      {
        label: "Used",
        values: shares,
        color: "--accent",
        bars: true,
        colors: shares.map((used) => (used !== null && used >= FULL_FROM ? "--bad" : "--accent")),
      },
    ];
    // Only limits can be drawn: with none (all unlimited), the words say it all.
    const drawn = shares.some((used) => used !== null);
    return { names: metrics.map((metric) => METRIC_NAMES[metric.metric]), series, drawn };
  }, [metrics]);
  return (
    <div class="usage">
      {chart.drawn && (
        <Chart
          label="Usage against limits"
          categories={chart.names}
          series={chart.series}
          format={percent}
          yRange={SHARE_RANGE}
          legend={false}
          height={170}
          testId="usage-chart"
        />
      )}
      <ul class="usage-list" aria-labelledby={labelledBy}>
        {metrics.map((metric) => {
          const used = share(metric);
          const look = used === null ? "no-limit" : used >= FULL_FROM ? "full" : "";
          return (
            <li class={look} data-metric={metric.metric} key={metric.metric}>
              {`${METRIC_NAMES[metric.metric]}: ${describeUsage(metric)}`}
            </li>
          );
        })}
      </ul>
    </div>
  );
}

/** In a team's workspace: the plan the team works on (its owner's) and its
 * seats, each member and each open invitation taking one. */
function TeamSeats({ team }: { team: NonNullable<BillingOverview["team"]> }) {
  const seats = team.usage.metrics.filter((metric) => metric.metric === "seats");
  const [counted] = seats;
  const full = counted !== undefined && counted.limit !== null && counted.used >= counted.limit;
  const owner = team.role === "owner";
  return (
    <section class="team-billing" aria-labelledby="team-billing-title" data-testid="team-billing">
      <h2 id="team-billing-title">{`Team: ${team.name}`}</h2>
      <p data-testid="team-plan">
        {owner
          ? `${team.name} works on your ${team.usage.plan.name} plan.`
          : `${team.name} works on its owner's ${team.usage.plan.name} plan.`}
        {" Each member and each open invitation takes a seat."}
      </p>
      <ul class="seat-list" aria-labelledby="team-billing-title">
        {seats.map((metric) => {
          const used = share(metric);
          return (
            <li class={used !== null && used >= FULL_FROM ? "full" : ""} data-metric="seats" key="seats">
              <span>{`Seats: ${describeUsage(metric)}`}</span>
              {used !== null && <span class="seat-bar" aria-hidden="true"><span style={{ width: `${used}%` }} /></span>}
            </li>
          );
        })}
      </ul>
      {full && (
        <p class="hint" data-testid="seats-full">
          {owner
            ? "Every seat is taken: upgrade your plan below for more, or take back an invitation."
            : "Every seat is taken: the team's owner can upgrade their plan for more."}
        </p>
      )}
    </section>
  );
}

/** A plan on offer: its price, and whether it is the current one, can be bought here, or why not. */
function PlanOffer({ plan, overview, say }: { plan: Plan; overview: BillingOverview; say: Say }) {
  const why = !overview.billing_enabled
    ? "Billing is not set up on this server."
    : !overview.purchasable_plans.includes(plan.key)
      ? `The ${plan.name} plan cannot be bought on this server yet.`
      : null;
  const reasonId = `upgrade-${plan.key}-why`;
  const checkout = () =>
    api
      .startCheckout(plan.key)
      .then(() => say("Finish the payment in your browser; this screen updates when Stripe confirms it.", "good"))
      .catch((error) => say(describeAccountError(error)));
  return (
    <li data-plan={plan.key}>
      <strong>{plan.name}</strong>
      <span class="price">{describePrice(plan)}</span>
      {plan.key === overview.usage.plan.key ? (
        <span class="badge">Current plan</span>
      ) : plan.price_cents > 0 && why !== null ? (
        // Offered, but it cannot go through here: say why instead of failing later.
        <>
          <button type="button" aria-describedby={reasonId} data-testid={`upgrade-${plan.key}`} disabled>
            Upgrade to {plan.name}
          </button>
          <span class="hint" id={reasonId}>{why}</span>
        </>
      ) : plan.price_cents > 0 ? (
        <ActionButton data-testid={`upgrade-${plan.key}`} onClick={checkout}>Upgrade to {plan.name}</ActionButton>
      ) : null}
    </li>
  );
}

/** The billing screen: what the account is on, uses and has paid. */
export function Billing() {
  const [overview, setOverview] = useState<BillingOverview | null>(null);
  const [said, say] = useNotice();
  useEffect(() => {
    api.billingOverview().then(setOverview, (error) => say(describeAccountError(error)));
  }, []);
  const notice = <Notice said={said} testId="billing-notice" />;
  if (!overview) {
    return (
      <section class="billing" aria-label="Billing">
        <h1>Plan and billing</h1>
        {notice}
      </section>
    );
  }
  const { subscription, usage, invoices } = overview;
  const ends = subscription?.current_period_end.slice(0, 10);
  const trial = overview.trial_days_remaining;
  return (
    <section class="billing" aria-label="Billing">
      <h1>Plan and billing</h1>
      <p data-testid="current-plan">
        {`You are on the ${usage.plan.name} plan.`}
        {subscription &&
          (subscription.cancel_at_period_end
            ? ` It ends on ${ends}.`
            : ` Status: ${subscription.status.replace("_", " ")}; renews on ${ends}.`)}
        {trial !== null && trial > 0 && (
          <span class="trial" data-testid="trial">{` Trial: ${trial} days left.`}</span>
        )}
      </p>
      {overview.team && <TeamSeats team={overview.team} />}
      <h2 id="usage-title">Usage this period</h2>
      <UsageAgainstLimits metrics={usage.metrics} labelledBy="usage-title" />
      {usage.period_resets_at && <p class="hint">Counts reset on {usage.period_resets_at.slice(0, 10)}.</p>}
      <h2>Plans</h2>
      <ul class="plans" aria-label="Plans">
        {overview.plans.map((plan) => (
          <PlanOffer plan={plan} overview={overview} say={say} key={plan.key} />
        ))}
      </ul>
      {/* Results of the actions above show right under them. */}
      {notice}
      {subscription && (
        <ActionButton class="quiet" onClick={() => api.openBillingPortal().catch((error) => say(describeAccountError(error)))}>
          Manage subscription
        </ActionButton>
      )}
      <h2>Invoices</h2>
      {invoices.length === 0 ? (
        <p class="hint">No invoices yet.</p>
      ) : (
        <table class="invoices" aria-label="Invoices">
          <thead>
            <tr>
              <th>Date</th>
              <th>Amount</th>
              <th>Status</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {invoices.map((invoice) => (
              <tr data-invoice={invoice.id} key={invoice.id}>
                <td>{invoice.created.slice(0, 10)}</td>
                <td>{describeAmount(invoice.amount_due, invoice.currency)}</td>
                <td>{describeInvoiceStatus(invoice.status)}</td>
                <td>
                  {invoice.hosted_url?.startsWith("https://") && (
                    <a href={invoice.hosted_url} target="_blank" rel="noreferrer">View</a>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
