// The billing screen in headless Chromium, against the shell's IPC contract.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { here, openPage } from "./harness.mjs";

async function billingScreen(setup = {}) {
  const opened = await openPage(setup);
  await opened.page.getByText("Start from a template").waitFor();
  await opened.page.locator('[data-screen="billing"]').click();
  await opened.page.getByRole("heading", { name: "Plan and billing" }).waitFor();
  return opened;
}

test("the billing screen shows the plan, trial, usage against limits, plans and invoices", async () => {
  const { page, errors } = await billingScreen();
  assert.match(await page.getByTestId("current-plan").textContent(), /You are on the Free plan\. Trial: 12 days left\./);
  // The chart (uPlot, through chart.tsx) says what it plotted: a bar per
  // metric, the share of its limit used, on a track standing for the limit.
  await page.getByRole("img", { name: "Usage against limits" }).locator("canvas").waitFor();
  const plotted = await page.evaluate(() => window.__charts["usage-chart"]());
  assert.deepEqual(plotted.x, ["Agent runs", "Tokens", "API calls", "Graphs"]);
  const [limit, used] = plotted.series;
  assert.deepEqual(limit.values, [100, 100, null, 100]);
  assert.deepEqual(used.values, [40, 75, null, 90]);
  // From 90% on a bar looks full: drawn in the theme's --bad, the others in --accent.
  const { accent, bad } = await page.evaluate(() => {
    const style = getComputedStyle(document.documentElement);
    return { accent: style.getPropertyValue("--accent").trim(), bad: style.getPropertyValue("--bad").trim() };
  });
  assert.deepEqual(used.colors, [accent, accent, accent, bad]);
  // The words beside the chart, as real text; a limit of 0 is a feature the
  // plan leaves out, not a broken counter.
  const lines = page.getByRole("list", { name: "Usage this period" }).getByRole("listitem");
  assert.deepEqual(await lines.allTextContents(), [
    "Agent runs: 40 of 100",
    "Tokens: 150,000 of 200,000",
    "API calls: Not included in this plan",
    "Graphs: 9 of 10",
  ]);
  assert.deepEqual(await lines.evaluateAll((items) => items.map((item) => item.className)), ["", "", "no-limit", "full"]);
  const plans = page.getByRole("list", { name: "Plans" }).getByRole("listitem");
  assert.equal(await plans.count(), 3);
  assert.match(await plans.nth(0).textContent(), /Free.*No charge.*Current plan/);
  assert.match(await plans.nth(1).textContent(), /Pro\$19 \/ month/);
  assert.match(await page.getByRole("table", { name: "Invoices" }).textContent(), /2026-10-01\$19\.00PaidView/);
  await mkdir(join(here, "..", "test-results"), { recursive: true });
  await page.screenshot({ path: join(here, "..", "test-results", "billing.png"), fullPage: true });
  assert.deepEqual(errors, []);
});

test("upgrading asks the shell to open Stripe Checkout for that plan", async () => {
  const { page } = await billingScreen();
  await page.getByRole("button", { name: "Upgrade to Pro" }).click();
  await page.getByTestId("billing-notice").filter({ hasText: "Finish the payment in your browser" }).waitFor();
  const calls = await page.evaluate(() => window.__shellDouble.calls.filter((call) => call.command === "start_checkout"));
  assert.deepEqual(calls.map((call) => call.args), [{ plan: "pro" }]);
});

test("a subscriber sees renewal and can manage the subscription; errors are shown", async () => {
  const { page } = await billingScreen({
    billing: {
      plans: [{ key: "pro", name: "Pro", price_cents: 1900, interval: "month", limits: {}, api_keys: true, trial_days: 14 }],
      usage: { plan: { key: "pro", name: "Pro", price_cents: 1900, interval: "month", limits: {}, api_keys: true, trial_days: 14 }, period_resets_at: null, metrics: [{ metric: "api_calls", used: 5, limit: null }] },
      subscription: { plan: "pro", status: "past_due", cancel_at_period_end: false, current_period_end: "2026-12-20T00:00:00.000Z" },
      invoices: [],
      trial_days_remaining: 0,
      billing_enabled: true,
      purchasable_plans: ["pro"],
    },
  });
  assert.equal(await page.getByTestId("current-plan").textContent(), "You are on the Pro plan. Status: past due; renews on 2026-12-20.");
  // No limit to draw: no chart, and the words say so.
  assert.deepEqual(await page.getByRole("list", { name: "Usage this period" }).getByRole("listitem").allTextContents(), ["API calls: 5 used · Unlimited"]);
  assert.equal(await page.getByRole("img", { name: "Usage against limits" }).count(), 0);
  assert.equal(await page.getByText("No invoices yet.").isVisible(), true);
  await page.getByRole("button", { name: "Manage subscription" }).click();
  await page.waitForFunction(() => window.__shellDouble.calls.some((call) => call.command === "open_billing_portal"));
  await page.evaluate(() => window.__shellDouble.failWith("open_billing_portal", { code: "offline", message: "offline" }));
  await page.getByRole("button", { name: "Manage subscription" }).click();
  await page.getByTestId("billing-notice").filter({ hasText: "Can't reach the Orrery server" }).waitFor();
});

test("billing_off_disables_upgrade_with_reason", async () => {
  const { page, errors } = await billingScreen({ billingEnabled: false });
  const upgrade = page.getByRole("button", { name: "Upgrade to Pro" });
  await upgrade.waitFor();
  assert.equal(await upgrade.isDisabled(), true);
  // The reason sits beside the button and is what assistive technology reads for it.
  const reasonId = await upgrade.getAttribute("aria-describedby");
  assert.equal(await page.locator(`#${reasonId}`).textContent(), "Billing is not set up on this server.");
  await upgrade.click({ force: true });
  const checkouts = await page.evaluate(() => window.__shellDouble.calls.filter((call) => call.command === "start_checkout").length);
  assert.equal(checkouts, 0);
  assert.deepEqual(errors, []);
});

test("in a team's workspace the billing screen shows the plan the team works on and its seats", async () => {
  const { page, errors } = await billingScreen({
    teams: [
      {
        name: "Research",
        role: "owner",
        plan: "free",
        members: [{ name: "Ben", email: "ben@lab.example", role: "editor" }],
        invitations: [{ email: "cy@lab.example", role: "viewer" }],
      },
      { name: "Support crew", role: "editor", plan: "pro", members: [{ name: "Olga", email: "olga@ops.example", role: "owner" }] },
    ],
  });
  // The personal workspace has no seats.
  assert.equal(await page.getByTestId("team-billing").count(), 0);
  await page.locator('[data-screen="graphs"]').click();
  await page.getByLabel("Workspace").selectOption({ label: "Research" });
  await page.locator('[data-screen="billing"]').click();
  const team = page.getByTestId("team-billing");
  await team.getByRole("heading", { name: "Team: Research" }).waitFor();
  assert.match(await team.getByTestId("team-plan").textContent(), /Research works on your Free plan\. Each member and each open invitation takes a seat\./);
  assert.deepEqual(await team.getByRole("list", { name: "Team: Research" }).getByRole("listitem").allTextContents(), ["Seats: 3 of 3"]);
  await team.getByTestId("seats-full").filter({ hasText: "upgrade your plan below" }).waitFor();
  await page.screenshot({ path: join(here, "..", "test-results", "billing-team.png"), fullPage: true });

  await page.locator('[data-screen="graphs"]').click();
  await page.getByLabel("Workspace").selectOption({ label: "Support crew" });
  await page.locator('[data-screen="billing"]').click();
  await team.getByRole("heading", { name: "Team: Support crew" }).waitFor();
  assert.match(await team.getByTestId("team-plan").textContent(), /Support crew works on its owner's Pro plan\./);
  assert.deepEqual(await team.getByRole("list", { name: "Team: Support crew" }).getByRole("listitem").allTextContents(), ["Seats: 2 of 10"]);
  assert.equal(await team.getByTestId("seats-full").count(), 0);
  assert.deepEqual(errors, []);
});
