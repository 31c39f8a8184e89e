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
  const bars = await page.locator("svg.usage-chart rect.bar").evaluateAll((rects) =>
    rects.map((rect) => [rect.dataset.metric, Number(rect.dataset.share), rect.classList.contains("full")]),
  );
  assert.deepEqual(bars, [
    ["runs", 40, false],
    ["tokens", 75, false],
    ["api_calls", 0, false],
    ["graphs", 90, true],
  ]);
  assert.match(await page.locator("svg.usage-chart").textContent(), /Tokens: 150,000 of 200,000/);
  // A limit of 0 is a feature the plan leaves out, not a broken counter.
  assert.match(await page.locator("svg.usage-chart").textContent(), /API calls: Not included in this plan/);
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
