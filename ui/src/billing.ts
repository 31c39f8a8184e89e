// The billing screen: plans, the current plan and subscription, usage against
// limits as a bar chart, invoices, trial days. Upgrading and managing open
// Stripe's pages in the browser through the shell.
import { api, type BillingOverview, type MetricUsage, type Plan } from "./api";
import { describeAccountError } from "./account";
import { element } from "./dom";

const METRIC_NAMES: Record<MetricUsage["metric"], string> = {
  runs: "Agent runs",
  tokens: "Tokens",
  api_calls: "API calls",
  graphs: "Graphs",
};

/** "$19 / month", "Free". */
export function describePrice(plan: Plan): string {
  if (plan.price_cents === 0) return "Free";
  const dollars = plan.price_cents % 100 === 0 ? String(plan.price_cents / 100) : (plan.price_cents / 100).toFixed(2);
  return `$${dollars} / ${plan.interval}`;
}

/** "12 of 100", "12 used · Unlimited", "Not included in this plan". */
export function describeUsage(metric: MetricUsage): string {
  const used = metric.used.toLocaleString("en-US");
  if (metric.limit === null) return `${used} used · Unlimited`;
  if (metric.limit === 0 && metric.used === 0) return "Not included in this plan";
  return `${used} of ${metric.limit.toLocaleString("en-US")}`;
}

/** How full a limit is, 0–100, for the chart. */
export function share(metric: MetricUsage): number {
  if (metric.limit === null) return 0;
  if (metric.limit === 0) return metric.used > 0 ? 100 : 0;
  return Math.min(100, Math.round((metric.used / metric.limit) * 100));
}

function usageChart(metrics: MetricUsage[]): SVGSVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const rowHeight = 34;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 420 ${metrics.length * rowHeight}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Usage against limits");
  svg.classList.add("usage-chart");
  metrics.forEach((metric, index) => {
    const y = index * rowHeight;
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", "0");
    label.setAttribute("y", String(y + 14));
    label.textContent = `${METRIC_NAMES[metric.metric]}: ${describeUsage(metric)}`;
    const track = document.createElementNS(ns, "rect");
    track.setAttribute("x", "0");
    track.setAttribute("y", String(y + 20));
    track.setAttribute("width", "420");
    track.setAttribute("height", "8");
    track.setAttribute("class", "track");
    const bar = document.createElementNS(ns, "rect");
    bar.setAttribute("x", "0");
    bar.setAttribute("y", String(y + 20));
    bar.setAttribute("width", String((share(metric) * 420) / 100));
    bar.setAttribute("height", "8");
    bar.setAttribute("class", share(metric) >= 90 ? "bar full" : "bar");
    bar.dataset.metric = metric.metric;
    bar.dataset.share = String(share(metric));
    svg.append(label, track, bar);
  });
  return svg;
}

export async function mountBilling(root: HTMLElement): Promise<void> {
  root.replaceChildren();
  const panel = element("section", { class: "billing", "aria-label": "Billing" });
  const notice = element("p", { class: "notice", role: "alert", "data-testid": "billing-notice" });
  notice.hidden = true;
  panel.append(element("h1", {}, "Plan and billing"));
  root.append(panel);
  const say = (message: string | null, kind: "bad" | "good" = "bad") => {
    notice.textContent = message ?? "";
    notice.hidden = message === null;
    notice.dataset.kind = kind;
  };

  let overview: BillingOverview;
  try {
    overview = await api.billingOverview();
  } catch (error) {
    panel.append(notice);
    say(describeAccountError(error));
    return;
  }
  const current = overview.usage.plan;
  const summary = element("p", { "data-testid": "current-plan" }, `You are on the ${current.name} plan.`);
  if (overview.subscription) {
    const ends = overview.subscription.current_period_end.slice(0, 10);
    summary.textContent += overview.subscription.cancel_at_period_end
      ? ` It ends on ${ends}.`
      : ` Status: ${overview.subscription.status.replace("_", " ")}; renews on ${ends}.`;
  }
  if (overview.trial_days_remaining !== null && overview.trial_days_remaining > 0) {
    summary.append(element("span", { class: "trial", "data-testid": "trial" }, ` Trial: ${overview.trial_days_remaining} days left.`));
  }
  panel.append(summary);

  panel.append(element("h2", {}, "Usage this period"));
  panel.append(usageChart(overview.usage.metrics));
  if (overview.usage.period_resets_at) {
    panel.append(element("p", { class: "hint" }, `Counts reset on ${overview.usage.period_resets_at.slice(0, 10)}.`));
  }

  panel.append(element("h2", {}, "Plans"));
  const plans = element("ul", { class: "plans", "aria-label": "Plans" });
  for (const plan of overview.plans) {
    const item = element("li", { "data-plan": plan.key });
    item.append(element("strong", {}, plan.name), element("span", { class: "price" }, describePrice(plan)));
    const why = !overview.billing_enabled
      ? "Billing is not set up on this server."
      : !overview.purchasable_plans.includes(plan.key)
        ? `The ${plan.name} plan cannot be bought on this server yet.`
        : null;
    if (plan.key === current.key) {
      item.append(element("span", { class: "badge" }, "Current plan"));
    } else if (plan.price_cents > 0 && why !== null) {
      // Offered, but it cannot go through here: say why instead of failing later.
      const reasonId = `upgrade-${plan.key}-why`;
      const upgrade = element(
        "button",
        { type: "button", "aria-describedby": reasonId, "data-testid": `upgrade-${plan.key}` },
        `Upgrade to ${plan.name}`,
      );
      upgrade.disabled = true;
      item.append(upgrade, element("span", { class: "hint", id: reasonId }, why));
    } else if (plan.price_cents > 0) {
      const upgrade = element("button", { type: "button", "data-testid": `upgrade-${plan.key}` }, `Upgrade to ${plan.name}`);
      upgrade.addEventListener("click", () => {
        upgrade.disabled = true;
        void api
          .startCheckout(plan.key)
          .then(() => say("Finish the payment in your browser; this screen updates when Stripe confirms it.", "good"))
          .catch((error) => say(describeAccountError(error)))
          .finally(() => {
            upgrade.disabled = false;
          });
      });
      item.append(upgrade);
    }
    plans.append(item);
  }
  panel.append(plans);
  // Results of the actions above show right under them.
  panel.append(notice);

  if (overview.subscription) {
    const manage = element("button", { type: "button", class: "quiet" }, "Manage subscription");
    manage.addEventListener("click", () => {
      void api.openBillingPortal().catch((error) => say(describeAccountError(error)));
    });
    panel.append(manage);
  }

  panel.append(element("h2", {}, "Invoices"));
  if (overview.invoices.length === 0) {
    panel.append(element("p", { class: "hint" }, "No invoices yet."));
  } else {
    const table = element("table", { class: "invoices", "aria-label": "Invoices" });
    const head = element("tr", {});
    for (const title of ["Date", "Amount", "Status", ""]) head.append(element("th", {}, title));
    table.append(head);
    for (const invoice of overview.invoices) {
      const row = element("tr", { "data-invoice": invoice.id });
      row.append(
        element("td", {}, invoice.created.slice(0, 10)),
        element("td", {}, `${(invoice.amount_due / 100).toFixed(2)} ${invoice.currency.toUpperCase()}`),
        element("td", {}, invoice.status),
      );
      const link = element("td", {});
      if (invoice.hosted_url?.startsWith("https://")) {
        link.append(element("a", { href: invoice.hosted_url, target: "_blank", rel: "noreferrer" }, "View"));
      }
      row.append(link);
      table.append(row);
    }
    panel.append(table);
  }
}
