// The management window (index.html#admin) over the shell's administration
// commands: users searched, filtered and changed, suspension confirmed first,
// every change in the audit log; "Manage" only for admins.
import { test } from "node:test";
import assert from "node:assert/strict";
import { openPage } from "./harness.mjs";

const PEOPLE = [
  { email: "grace@orrery.test", name: "Grace Hopper", plan: "pro", status: "active" },
  { email: "linus@orrery.test", name: "Linus", plan: "free", status: "past_due" },
  { email: "barbara@orrery.test", name: "Barbara Liskov", plan: "free", status: "active" },
];

const openAdmin = (setup) => openPage(setup, { hash: "#admin", viewport: { width: 1180, height: 780 } });

test("admins find users, change a plan and suspend after confirming; the audit log records both", async () => {
  const { page, errors } = await openAdmin({ role: "admin", adminUsers: PEOPLE });
  await page.getByRole("button", { name: "Users", exact: true }).click();
  const rows = page.getByRole("table", { name: "Users" }).locator("tbody tr");
  await page.getByTestId("user-count").filter({ hasText: "4 users" }).waitFor();
  // Search by name, any case.
  await page.getByRole("searchbox", { name: "Search" }).fill("HOPPER");
  await page.getByTestId("user-count").filter({ hasText: "1 user" }).waitFor();
  assert.equal(await rows.count(), 1);
  await page.getByRole("searchbox", { name: "Search" }).fill("");
  // Filter by status.
  await page.getByRole("combobox", { name: "Status" }).selectOption("past_due");
  await page.getByTestId("user-count").filter({ hasText: "1 user" }).waitFor();
  assert.match(await rows.first().textContent(), /linus@orrery\.test.*Past due/);
  await page.getByRole("combobox", { name: "Status" }).selectOption("");
  await page.getByTestId("user-count").filter({ hasText: "4 users" }).waitFor();

  // Change Barbara's plan.
  await page.getByRole("combobox", { name: "Plan of barbara@orrery.test" }).selectOption("pro");
  await page.waitForFunction(() => window.__shellDouble.auditLog.length === 1);

  // Suspending asks first; cancelling changes nothing.
  const grace = page.locator('tr[data-user="grace@orrery.test"]');
  await grace.getByRole("button", { name: "Suspend…" }).click();
  await page.getByRole("button", { name: "Cancel" }).click();
  assert.equal(await page.evaluate(() => window.__shellDouble.auditLog.length), 1);
  await grace.getByRole("button", { name: "Suspend…" }).click();
  await page.getByRole("button", { name: "Suspend", exact: true }).click();
  await grace.getByText("Suspended").waitFor();
  await grace.getByRole("button", { name: "Reactivate" }).waitFor();

  // Opened whole: usage against the plan, devices, and what admins did to them.
  await page.getByRole("button", { name: "Open Barbara Liskov" }).click();
  await page.getByRole("heading", { name: "Barbara Liskov" }).waitFor();
  assert.match(await page.getByTestId("user-facts").textContent(), /Planpro/);
  assert.match(await page.getByRole("list", { name: "Usage" }).textContent(), /Agent runs: 12 of 100/);
  assert.match(await page.getByRole("list", { name: "Admin actions" }).textContent(), /user\.plan free → pro/);
  await page.getByRole("button", { name: "← All users" }).click();
  await page.getByTestId("user-count").waitFor();

  // The audit log: newest first, who did what to whom, and the change.
  await page.getByRole("button", { name: "Audit log" }).click();
  const entries = page.getByRole("table", { name: "Audit log" }).locator("tbody tr");
  await entries.first().waitFor();
  assert.equal(await entries.count(), 2);
  assert.match(await entries.nth(0).textContent(), /user\.suspend.*grace@orrery\.test.*active → suspended/);
  assert.match(await entries.nth(1).textContent(), /user\.plan.*barbara@orrery\.test.*free → pro/);
  // Filtered by action.
  await page.getByRole("combobox", { name: "Action" }).selectOption("user.plan");
  await page.waitForFunction(() => document.querySelectorAll("table[aria-label='Audit log'] tbody tr").length === 1);
  assert.match(await entries.first().textContent(), /user\.plan/);
  // Exported as the screen filters it.
  await page.getByRole("button", { name: "Export…" }).click();
  await page.getByText(/The audit log is saved in \/home\/ada\/Downloads\/orrery-audit-log-/).waitFor();
  assert.deepEqual(await page.evaluate(() => window.__shellDouble.exports.at(-1)), { audit: 1 });
  await page.getByRole("combobox", { name: "Action" }).selectOption("user.role");
  await page.getByText("No entry records this action.").waitFor();
  // Filtered by target: Barbara's entries only.
  await page.getByRole("combobox", { name: "Action" }).selectOption("");
  const barbara = await page.evaluate(() => window.__shellDouble.auditLog.find((entry) => entry.action === "user.plan").target_id);
  await page.getByRole("searchbox", { name: "Target" }).fill(barbara);
  await page.waitForFunction(() => document.querySelectorAll("table[aria-label='Audit log'] tbody tr").length === 1);
  assert.match(await entries.first().textContent(), /barbara@orrery\.test/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("the management window says so to anyone but an admin, and Manage is offered to admins only", async () => {
  const { page, errors } = await openAdmin({});
  await page.getByTestId("not-admin").waitFor();
  assert.equal(await page.getByRole("table").count(), 0);
  await page.close();

  const main = await openPage({});
  await main.page.locator('[data-screen="graphs"][aria-current="true"]').waitFor();
  assert.equal(await main.page.getByTestId("manage").count(), 0);
  await main.page.close();

  const admin = await openPage({ role: "admin" });
  await admin.page.getByTestId("manage").click();
  await admin.page.waitForFunction(() => window.__shellDouble.adminWindowOpened === 1);
  assert.deepEqual([...errors, ...main.errors, ...admin.errors], []);
  await admin.page.close();
});

test("the overview shows the window's figures beside the window before, and a chart a day for each", async () => {
  const { page, errors } = await openAdmin({ role: "admin" });
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  const figure = (key) => page.locator(`[data-figure="${key}"]`);
  const expected = await page.evaluate(() => window.__TAURI_INTERNALS__.invoke("admin_overview", { days: 30 }));
  const dollars = (cents) => (cents / 100).toLocaleString("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 0 });
  await figure("mrr").filter({ hasText: dollars(expected.figures.mrr_cents) }).waitFor();
  assert.match(await figure("arr").textContent(), new RegExp(dollars(expected.figures.arr_cents).replace("$", "\\$")));
  // Compared with the window before: MRR grew, shown as good news.
  const grew = expected.figures.mrr_cents - expected.previous.mrr_cents;
  assert.ok(grew > 0);
  assert.match(await figure("mrr").locator(".figure-change.up").textContent(), new RegExp(`^\\+${dollars(grew).replace("$", "\\$")}$`));
  assert.match(await figure("revenue_churn").textContent(), new RegExp(`${(expected.figures.revenue_churn * 100).toFixed(1)}%`));
  assert.match(await page.getByTestId("overview-window").textContent(), new RegExp(`${expected.from} to ${expected.to}`));
  // Four charts, each a canvas drawn by the chart library, with a legend.
  for (const chart of ["chart-mrr", "chart-movements", "chart-subscriptions", "chart-users"]) {
    await page.getByTestId(chart).locator("canvas").waitFor();
  }
  assert.match(await page.getByTestId("chart-movements").locator(".u-legend").textContent(), /New.*Reactivation.*Expansion.*Contraction.*Churn/s);
  // What the MRR chart plotted, read back from it: a point a day, in dollars.
  const mrr = await page.evaluate(() => window.__charts["chart-mrr"]());
  assert.deepEqual(mrr.x, expected.series.map((point) => point.day));
  assert.deepEqual(mrr.series.map((line) => [line.label, line.values]), [["MRR", expected.series.map((point) => point.mrr_cents / 100)]]);
  // A year: 365 points, and the window text follows.
  await page.getByRole("button", { name: "1 year" }).click();
  const year = await page.evaluate(() => window.__TAURI_INTERNALS__.invoke("admin_overview", { days: 365 }));
  await page.getByTestId("overview-window").filter({ hasText: `${year.from} to ${year.to}` }).waitFor();
  assert.equal(await page.getByRole("button", { name: "1 year" }).getAttribute("aria-pressed"), "true");
  assert.deepEqual(errors, []);
  await page.close();
});

test("one user's data is exported to Downloads, and deleting them asks first and removes them", async () => {
  const { page, errors } = await openAdmin({ role: "admin", adminUsers: PEOPLE });
  await page.getByRole("button", { name: "Users", exact: true }).click();
  await page.getByTestId("user-count").filter({ hasText: "4 users" }).waitFor();
  await page.getByRole("button", { name: "Open Linus" }).click();
  await page.getByRole("heading", { name: "Linus" }).waitFor();
  await page.getByRole("button", { name: "Export data" }).click();
  await page.getByText(/linus@orrery\.test's data is saved in \/home\/ada\/Downloads\/orrery-user-.*\.json/).waitFor();
  assert.equal(await page.evaluate(() => window.__shellDouble.exports.length), 1);
  // Cancelling deletes nothing.
  await page.getByRole("button", { name: "Delete user…" }).click();
  await page.getByRole("dialog").getByText(/removed from the server for good/).waitFor();
  await page.getByRole("button", { name: "Cancel" }).click();
  assert.equal(await page.evaluate(() => window.__shellDouble.auditLog.length), 0);
  await page.getByRole("button", { name: "Delete user…" }).click();
  await page.getByRole("button", { name: "Delete for good" }).click();
  // Back on the list, without them; the audit log has the deletion.
  await page.getByTestId("user-count").filter({ hasText: "3 users" }).waitFor();
  assert.equal(await page.locator('tr[data-user="linus@orrery.test"]').count(), 0);
  assert.equal(await page.evaluate(() => window.__shellDouble.auditLog[0].action), "user.delete");
  // An admin's own page offers no deletion.
  await page.getByRole("button", { name: "Open Ada" }).click();
  await page.getByRole("button", { name: "Export data" }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Delete user…" }).count(), 0);
  assert.deepEqual(errors, []);
  await page.close();
});

test("plans are listed whole and edited with their checks; a saved plan shows at once", async () => {
  const { page, errors } = await openAdmin({ role: "admin" });
  await page.getByRole("button", { name: "Plans", exact: true }).click();
  const pro = page.locator('tr[data-plan="pro"]');
  await pro.waitFor();
  assert.match(await pro.textContent(), /\$19\.00 a month.*14 days.*5,000 agent runs.*Yes.*telegram/);
  await pro.getByRole("button", { name: "Edit Pro" }).click();
  const form = page.getByRole("form", { name: "Edit Pro" });
  // A negative limit is refused before anything is sent.
  await form.getByLabel("Agent runs a month").fill("-5");
  await form.getByRole("button", { name: "Save plan" }).click();
  await page.getByTestId("plans-notice").filter({ hasText: "Agent runs a month: a whole number of at least 0" }).waitFor();
  // So is a price without a currency.
  await form.getByLabel("Agent runs a month").fill("8000");
  await form.getByLabel("Currency").fill("");
  await form.getByRole("button", { name: "Save plan" }).click();
  await page.getByTestId("plans-notice").filter({ hasText: "A price needs its currency" }).waitFor();
  assert.equal(await page.evaluate(() => window.__shellDouble.auditLog.length), 0);
  // A good edit is saved and listed.
  await form.getByLabel("Currency").fill("eur");
  await form.getByLabel("Price").fill("24.50");
  await form.getByLabel("Tokens a month").fill("");
  await form.getByRole("button", { name: "Save plan" }).click();
  await pro.filter({ hasText: "€24.50 a month" }).waitFor();
  assert.match(await pro.textContent(), /8,000 agent runs/);
  const saved = await page.evaluate(() => window.__shellDouble.auditLog[0]);
  assert.equal(saved.action, "plan.put");
  assert.equal(saved.after.limits.tokens, null, "empty is unlimited");
  assert.equal(saved.after.price_cents, 2450);
  // A new plan with a list of agents.
  await page.getByRole("button", { name: "New plan" }).click();
  const created = page.getByRole("form", { name: "New plan" });
  await created.getByLabel("Key", { exact: true }).fill("team");
  await created.getByLabel("Name", { exact: true }).fill("Team");
  await created.getByLabel("Price").fill("49");
  await created.getByLabel("Only these", { exact: false }).check();
  await created.getByLabel("Agents the plan includes").fill("helper, researcher");
  await created.getByRole("button", { name: "Save plan" }).click();
  await page.locator('tr[data-plan="team"]').filter({ hasText: "$49.00 a month" }).waitFor();
  assert.deepEqual(await page.evaluate(() => window.__shellDouble.auditLog[0].after.agents), { kind: "only", agents: ["helper", "researcher"] });
  assert.deepEqual(errors, []);
  await page.close();
});

test("a trial is started, extended and ended from one user's page, and signing out everywhere asks first", async () => {
  const { page, errors } = await openAdmin({ role: "admin", adminUsers: PEOPLE });
  await page.getByRole("button", { name: "Users", exact: true }).click();
  await page.getByRole("button", { name: "Open Grace Hopper" }).click();
  const trial = page.getByRole("form", { name: "Trial" });
  // A day in the past is refused before anything is sent.
  await trial.getByLabel("Trial ends on").fill("2020-01-01");
  await trial.getByRole("button", { name: "Start a trial" }).click();
  await page.getByTestId("admin-notice").filter({ hasText: "cannot end in the past" }).waitFor();
  assert.equal(await page.evaluate(() => window.__shellDouble.auditLog.length), 0);
  await trial.getByLabel("Trial ends on").fill("2099-03-01");
  await trial.getByRole("button", { name: "Start a trial" }).click();
  await page.locator('[data-status="trialing"]').waitFor();
  assert.equal(await page.evaluate(() => window.__shellDouble.auditLog[0].after.trial_ends_at), "2099-03-01T23:59:59Z");
  await trial.getByRole("button", { name: "End trial now" }).click();
  await page.locator('[data-status="active"]').waitFor();
  assert.equal(await page.evaluate(() => window.__shellDouble.auditLog[0].after.trial_ends_at), null);
  // Signing out everywhere: cancelled, then confirmed.
  await trial.getByRole("button", { name: "Sign out everywhere…" }).click();
  await page.getByRole("button", { name: "Cancel" }).click();
  assert.equal(await page.evaluate(() => window.__shellDouble.auditLog.length), 2);
  await trial.getByRole("button", { name: "Sign out everywhere…" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Sign out everywhere" }).click();
  await page.waitForFunction(() => window.__shellDouble.auditLog[0]?.action === "user.sessions.revoke");
  assert.deepEqual(errors, []);
  await page.close();
});

test("tenants are listed with their members and usage, and found by a member's address", async () => {
  const { page, errors } = await openAdmin({ role: "admin", adminUsers: PEOPLE });
  await page.getByRole("button", { name: "Tenants", exact: true }).click();
  await page.getByTestId("tenant-count").filter({ hasText: "4 tenants" }).waitFor();
  const rows = page.getByRole("table", { name: "Tenants" }).locator("tbody tr");
  assert.equal(await rows.count(), 4);
  await page.getByRole("searchbox", { name: "Search" }).fill("linus@");
  await page.getByTestId("tenant-count").filter({ hasText: "1 tenant" }).waitFor();
  assert.match(await rows.first().textContent(), /Linus.*linus@orrery\.test/);
  await page.getByRole("searchbox", { name: "Search" }).fill("nobody-at-all");
  await page.getByText("No tenant matches.").waitFor();
  assert.deepEqual(errors, []);
  await page.close();
});

test("published prompt versions of every tenant are listed and searched, and an earlier one is rolled back after confirming", async () => {
  const { page, errors } = await openAdmin({ role: "admin" });
  await page.getByRole("button", { name: "Prompts", exact: true }).click();
  await page.getByTestId("prompt-count").filter({ hasText: "4 published versions" }).waitFor();
  const table = page.getByRole("table", { name: "Published prompt versions" });
  const rows = table.locator("tbody tr");
  // Most recently published first, with who published it and when.
  assert.match(await rows.nth(0).textContent(), /Trip planner.*Ada's workspace.*Active.*2026-12-04 16:20 UTC.*by ada@orrery\.test/);
  assert.match(await rows.nth(1).textContent(), /Support triage.*Harbour Support.*Active.*by lin@harbour\.example/);
  // The active version offers no rollback; earlier ones do.
  assert.equal(await rows.nth(0).getByRole("button", { name: "Roll back" }).count(), 0);
  // A long text is cut until opened.
  const long = rows.nth(1);
  assert.match(await long.locator("pre").textContent(), /…$/);
  await long.getByRole("button", { name: "Show all" }).click();
  assert.match(await long.locator("pre").textContent(), /say so first\.$/);

  await page.getByRole("searchbox", { name: "Search" }).fill("harbour");
  await page.getByTestId("prompt-count").filter({ hasText: "1 published version" }).waitFor();
  await page.getByRole("searchbox", { name: "Search" }).fill("{{days}}");
  await page.getByTestId("prompt-count").filter({ hasText: "2 published versions" }).waitFor();
  await page.getByRole("searchbox", { name: "Search" }).fill("");
  await page.getByTestId("prompt-count").filter({ hasText: "4 published versions" }).waitFor();

  // Rolling back asks first; cancelling changes nothing.
  const earlier = table.locator('tr[data-version="0193a000-0000-7000-8000-000000000002"]');
  await earlier.getByRole("button", { name: "Roll back" }).click();
  const dialog = page.getByRole("dialog");
  assert.match(await dialog.textContent(), /Roll “Trip planner” back\?.*2026-11-20 10:05 UTC.*Ada's workspace/);
  await dialog.getByRole("button", { name: "Cancel" }).click();
  assert.equal(await page.evaluate(() => window.__shellDouble.auditLog.length), 0);
  await earlier.getByRole("button", { name: "Roll back" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Roll back" }).click();
  await page.waitForFunction(() => window.__shellDouble.auditLog[0]?.action === "prompt.rollback");
  // The list reloads: the version rolled back to is active, published now by the admin, and first.
  await table.locator('tbody tr[data-version="0193a000-0000-7000-8000-000000000002"][data-status="active"]').waitFor();
  assert.match(await rows.nth(0).textContent(), /Trip planner.*Active.*2026-12-06 12:00 UTC.*by ada@orrery\.test/);
  assert.equal(await table.locator('tr[data-version="0193a000-0000-7000-8000-000000000003"]').getAttribute("data-status"), "archived");
  const entry = await page.evaluate(() => window.__shellDouble.auditLog[0]);
  assert.equal(entry.before.active_version, "0193a000-0000-7000-8000-000000000003");
  assert.equal(entry.after.active_version, "0193a000-0000-7000-8000-000000000002");

  // A refusal from the server is shown in words, and the list stays as it was.
  await page.evaluate(() =>
    window.__shellDouble.failWith("admin_roll_back_prompt", { code: "conflict", message: "prompt 7d9e is being changed by its devices faster than it can be rolled back; try again" }),
  );
  await table.locator('tr[data-version="0193a000-0000-7000-8000-000000000001"]').getByRole("button", { name: "Roll back" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Roll back" }).click();
  await page.getByTestId("prompts-notice").filter({ hasText: "faster than it can be rolled back" }).waitFor();
  assert.equal(await page.evaluate(() => window.__shellDouble.auditLog.length), 1);
  assert.deepEqual(errors, []);
  await page.close();
});

test("monitoring shows runs, errors, tokens and run time a day, and narrows to one graph or one user", async () => {
  const { page, errors } = await openAdmin({ role: "admin" });
  await page.getByRole("button", { name: "Monitoring", exact: true }).click();
  for (const chart of ["chart-runs", "chart-tokens", "chart-latency"]) {
    await page.getByTestId(chart).locator("canvas").waitFor();
  }
  // The figures are the days' sums, as the charts plot them.
  const plotted = await page.evaluate(() => window.__charts["chart-runs"]());
  assert.equal(plotted.x.length, 30);
  assert.equal(plotted.x.at(-1), "2026-12-06");
  const answered = plotted.series.find((series) => series.label === "Runs").values;
  const failed = plotted.series.find((series) => series.label === "Errors").values;
  const total = answered.reduce((sum, value) => sum + value, 0);
  const errorCount = failed.reduce((sum, value) => sum + value, 0);
  assert.equal(await page.locator('li[data-figure="runs"] .figure-value').textContent(), total.toLocaleString("en-US"));
  assert.equal(await page.locator('li[data-figure="errors"] .figure-value').textContent(), errorCount.toLocaleString("en-US"));
  assert.match(await page.locator('li[data-figure="errors"] .figure-change').textContent(), /^\d+\.\d%$/);
  const graphs = page.getByRole("table", { name: "Graphs with the most runs" });
  assert.match(await graphs.locator("tbody tr").first().textContent(), /Support triage.*Harbour Support/);
  assert.match(await graphs.locator("tbody tr").nth(3).textContent(), /A graph not on the server/);
  const users = page.getByRole("table", { name: "Users with the most runs" });
  assert.match(await users.locator("tbody tr").nth(2).textContent(), /A deleted user/);

  // One graph: everything narrows to its runs, and back.
  await graphs.getByRole("button", { name: "Lisbon desk" }).click();
  await page.getByTestId("monitoring-focus").filter({ hasText: "Only the runs of the graph Lisbon desk" }).waitFor();
  await page.waitForFunction((all) => {
    const chart = window.__charts["chart-runs"]?.();
    return chart && chart.series[0].values.reduce((sum, value) => sum + value, 0) < all;
  }, total);
  assert.equal(await graphs.count(), 0, "the tables are for the whole server");
  await page.getByRole("button", { name: "Show every run" }).click();
  await page.getByRole("table", { name: "Users with the most runs" }).getByRole("button", { name: "lin@harbour.example" }).click();
  await page.getByTestId("monitoring-focus").filter({ hasText: "Only the runs of lin@harbour.example" }).waitFor();

  // A year: a point a day.
  await page.getByRole("button", { name: "1 year" }).click();
  await page.waitForFunction(() => window.__charts["chart-tokens"]?.().x.length === 365);
  assert.deepEqual(errors, []);
  await page.close();
});

test("monitoring without any run says where runs come from", async () => {
  const { page, errors } = await openAdmin({ role: "admin", noRuns: true });
  await page.getByRole("button", { name: "Monitoring", exact: true }).click();
  await page.getByTestId("no-runs").waitFor();
  assert.equal(await page.locator('li[data-figure="runs"] .figure-value').textContent(), "0");
  assert.equal(await page.getByTestId("chart-runs").count(), 0);
  assert.deepEqual(errors, []);
  await page.close();
});

test("email templates are edited with their variables, previewed, saved and restored after confirming", async () => {
  const { page, errors } = await openAdmin({ role: "admin" });
  await page.getByRole("button", { name: "Emails", exact: true }).click();
  const templates = page.getByRole("navigation", { name: "Templates" });
  await templates.getByRole("button", { name: "Welcome" }).waitFor();
  assert.equal(await templates.getByRole("button").count(), 7);
  const form = page.getByRole("form", { name: "Edit Welcome" });
  assert.match(await page.getByTestId("template-variables").textContent(), /\{\{ name \}\}/);
  // Nothing changed: nothing to save.
  assert.equal(await form.getByRole("button", { name: "Save" }).isDisabled(), true);

  // A variable the template is not given is refused with the reason.
  await form.getByLabel("Subject").fill("Hi {{ nickname }}");
  await form.getByRole("button", { name: "Preview" }).click();
  await page.getByTestId("emails-notice").filter({ hasText: "it uses `nickname`, which this email is not given" }).waitFor();
  assert.equal(await page.evaluate(() => window.__shellDouble.auditLog.length), 0);

  // A preview with sample values, then saved.
  await form.getByLabel("Subject").fill("Hello {{ name }}, you are in");
  await form.getByRole("button", { name: "Preview" }).click();
  await page.getByTestId("preview-subject").filter({ hasText: "Hello <name>, you are in" }).waitFor();
  assert.match(await page.getByTestId("preview-text").textContent(), /Hello <name>,/);
  await form.getByRole("button", { name: "Save" }).click();
  await page.waitForFunction(() => window.__shellDouble.auditLog[0]?.action === "mail_template.put");
  await templates.getByRole("button", { name: "Welcome edited" }).waitFor();

  // Another template keeps its own text; back on Welcome, the edit is there.
  await templates.getByRole("button", { name: "Payment failed" }).click();
  await page.getByRole("form", { name: "Edit Payment failed" }).waitFor();
  assert.match(await page.getByTestId("template-variables").textContent(), /\{\{ amount \}\}/);
  await templates.getByRole("button", { name: "Welcome edited" }).click();
  assert.equal(await form.getByLabel("Subject").inputValue(), "Hello {{ name }}, you are in");

  // Restoring asks first.
  await form.getByRole("button", { name: "Restore the shipped text…" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Restore" }).click();
  await page.waitForFunction(() => window.__shellDouble.auditLog[0]?.action === "mail_template.reset");
  assert.equal(await form.getByLabel("Subject").inputValue(), "Welcome to Orrery");
  assert.deepEqual(errors, []);
  await page.close();
});

test("reported listings are listed together and delisted after a confirmation", async () => {
  const listing = "0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b";
  const { page, errors } = await openAdmin({
    role: "admin",
    marketReports: [
      { listing_id: listing, title: "Contract reviewer", reporter_id: "u1", reason: "It copies another seller's agent.", created_at: "2026-12-05T10:00:00.000Z" },
      { listing_id: listing, title: "Contract reviewer", reporter_id: "u2", reason: "Same as the one by Grace.", created_at: "2026-12-04T10:00:00.000Z" },
      { listing_id: "0193a1b2-0000-7e8f-9a0b-1c2d3e4f5a6b", title: "Trip planner", reporter_id: "u3", reason: "Spam in the description.", created_at: "2026-12-03T10:00:00.000Z" },
    ],
  });
  await page.getByRole("button", { name: "Marketplace", exact: true }).click();
  const table = page.getByRole("table", { name: "Reports" });
  await table.getByText("Same as the one by Grace.").waitFor();
  assert.equal(await table.locator("tbody tr").count(), 2, "one row per listing");

  await table.getByRole("row", { name: /Contract reviewer/ }).getByRole("button", { name: "Delist…" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delist" }).click();
  await page.getByText("“Contract reviewer” is off the marketplace.").waitFor();
  assert.equal(await table.locator("tbody tr").count(), 1);
  const call = await page.evaluate(() => window.__shellDouble.calls.find((each) => each.command === "admin_delist_listing"));
  assert.equal(call.args.id, listing);
  assert.equal(call.args.reason, "It copies another seller's agent.");
  assert.deepEqual(errors, []);
});

test("the marketplace commission is set as a percentage, within 0 to 50, and a reconciliation runs on demand", async () => {
  const { page, errors } = await openAdmin({ role: "admin" });
  await page.getByRole("button", { name: "Marketplace", exact: true }).click();
  const commission = page.getByRole("form", { name: "Commission" });
  const field = commission.getByLabel("Platform commission (%)");
  await page.waitForFunction(() => document.querySelector('input[aria-label="Platform commission (%)"]')?.value === "20");
  await field.fill("60");
  await commission.getByRole("button", { name: "Save" }).click();
  await page.getByRole("alert").filter({ hasText: "from 0 to 50" }).waitFor();
  await field.fill("12.5");
  await commission.getByRole("button", { name: "Save" }).click();
  await page.getByText("The commission is 12.5% from the next sale on.").waitFor();
  const call = await page.evaluate(() => window.__shellDouble.calls.find((each) => each.command === "admin_set_market_commission"));
  assert.equal(call.args.commissionBps, 1250);
  await page.getByRole("button", { name: "Reconcile with Stripe now" }).click();
  await page.getByText("Nothing to catch up: every payment and refund Stripe reports is reflected here.").waitFor();
  assert.deepEqual(errors, []);
});
