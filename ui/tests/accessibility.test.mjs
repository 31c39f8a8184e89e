// Every screen checked by axe-core in Chromium, light and dark: no serious or
// critical WCAG 2 A/AA violation (contrast, names, roles, labels, focus).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { openPage } from "./harness.mjs";

const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

/** Every screen, reached the way a user reaches it. */
const screens = [
  {
    name: "graphs, empty (templates)",
    setup: {},
    open: async (page) => page.getByRole("list", { name: "Templates" }).getByRole("listitem").first().waitFor(),
  },
  {
    name: "graphs, with graphs and deleted ones",
    setup: {},
    open: async (page) => {
      await page.getByRole("button", { name: "Use template: Research team" }).click();
      await page.getByRole("list", { name: "Graphs" }).getByRole("listitem").first().waitFor();
      await page.getByLabel("New graph name").fill("Old pipeline");
      await page.getByRole("button", { name: "Create graph" }).click();
      await page.getByRole("button", { name: "Delete Old pipeline" }).click();
      await page.getByRole("dialog").getByRole("button", { name: "Delete graph" }).click();
      await page.getByTestId("deleted-graphs").waitFor();
      await page.getByTestId("deleted-graphs").locator("summary").click();
    },
  },
  {
    name: "graphs, searched with nothing found",
    setup: { graphs: [{ name: "Research team" }, { name: "Support triage" }] },
    open: async (page) => {
      await page.getByLabel("Search graphs").fill("zebra");
      await page.getByTestId("no-match").waitFor();
    },
  },
  {
    name: "delete confirmation",
    setup: {},
    open: async (page) => {
      await page.getByLabel("New graph name").fill("Keep me");
      await page.getByRole("button", { name: "Create graph" }).click();
      await page.getByRole("button", { name: "Delete Keep me" }).click();
      await page.getByRole("dialog").waitFor();
    },
  },
  { name: "welcome", setup: { firstRun: true }, open: async (page) => page.getByRole("dialog", { name: "Welcome to Orrery" }).waitFor() },
  { name: "agents", setup: {}, open: async (page) => page.getByRole("button", { name: "Agents" }).click() },
  { name: "prompts", setup: {}, open: async (page) => page.getByRole("button", { name: "Prompts" }).click() },
  { name: "providers", setup: {}, open: async (page) => page.getByRole("button", { name: "Providers" }).click() },
  {
    name: "billing",
    setup: {},
    open: async (page) => {
      await page.getByRole("button", { name: "Billing" }).click();
      await page.getByRole("heading", { name: "Plans" }).waitFor();
      await page.getByTestId("usage-chart").locator("canvas").waitFor();
    },
  },
  {
    name: "billing without Stripe",
    setup: { billingEnabled: false },
    open: async (page) => {
      await page.getByRole("button", { name: "Billing" }).click();
      await page.getByRole("heading", { name: "Plans" }).waitFor();
    },
  },
  {
    name: "profile (admin)",
    setup: { role: "admin" },
    open: async (page) => {
      await page.getByRole("button", { name: "Ada" }).click();
      await page.getByRole("heading", { name: "Profile" }).waitFor();
    },
  },
  { name: "sign in", setup: { signedIn: false }, open: async (page) => page.getByRole("heading", { name: "Sign in" }).waitFor() },
  {
    name: "management: users",
    setup: { role: "admin", adminUsers: [{ email: "grace@orrery.test", name: "Grace Hopper" }, { email: "linus@orrery.test", name: "Linus", status: "suspended" }] },
    hash: "#admin",
    nav: "Management screens",
    open: async (page) => {
      await page.getByRole("button", { name: "Users", exact: true }).click();
      await page.getByTestId("user-count").waitFor();
    },
  },
  {
    name: "management: overview",
    setup: { role: "admin" },
    hash: "#admin",
    nav: "Management screens",
    open: async (page) => {
      for (const chart of ["chart-mrr", "chart-movements", "chart-subscriptions", "chart-users"]) {
        await page.getByTestId(chart).locator("canvas").waitFor();
      }
    },
  },
  {
    name: "management: tenants",
    setup: { role: "admin", adminUsers: [{ email: "grace@orrery.test", name: "Grace Hopper" }] },
    hash: "#admin",
    nav: "Management screens",
    open: async (page) => {
      await page.getByRole("button", { name: "Tenants", exact: true }).click();
      await page.getByRole("table", { name: "Tenants" }).waitFor();
    },
  },
  {
    name: "management: monitoring",
    setup: { role: "admin" },
    hash: "#admin",
    nav: "Management screens",
    open: async (page) => {
      await page.getByRole("button", { name: "Monitoring", exact: true }).click();
      await page.getByTestId("chart-latency").locator("canvas").waitFor();
    },
  },
  {
    name: "management: emails",
    setup: { role: "admin" },
    hash: "#admin",
    nav: "Management screens",
    open: async (page) => {
      await page.getByRole("button", { name: "Emails", exact: true }).click();
      const form = page.getByRole("form", { name: "Edit Welcome" });
      await form.getByRole("button", { name: "Preview" }).click();
      await page.getByTestId("preview-subject").waitFor();
    },
  },
  {
    name: "management: prompts",
    setup: { role: "admin" },
    hash: "#admin",
    nav: "Management screens",
    open: async (page) => {
      await page.getByRole("button", { name: "Prompts", exact: true }).click();
      await page.getByRole("table", { name: "Published prompt versions" }).waitFor();
    },
  },
  {
    name: "management: plans",
    setup: { role: "admin" },
    hash: "#admin",
    nav: "Management screens",
    open: async (page) => {
      await page.getByRole("button", { name: "Plans", exact: true }).click();
      await page.getByRole("button", { name: "Edit Pro" }).click();
      await page.getByRole("form", { name: "Edit Pro" }).waitFor();
    },
  },
  {
    name: "management: one user",
    setup: { role: "admin", adminUsers: [{ email: "grace@orrery.test", name: "Grace Hopper" }] },
    hash: "#admin",
    nav: "Management screens",
    open: async (page) => {
      await page.getByRole("button", { name: "Users", exact: true }).click();
      await page.getByRole("button", { name: "Open Grace Hopper" }).click();
      await page.getByTestId("user-facts").waitFor();
    },
  },
  {
    name: "management: audit log",
    setup: { role: "admin", adminUsers: [{ email: "grace@orrery.test", name: "Grace Hopper" }] },
    hash: "#admin",
    nav: "Management screens",
    open: async (page) => {
      await page.getByRole("button", { name: "Users", exact: true }).click();
      await page.getByRole("combobox", { name: "Plan of grace@orrery.test" }).selectOption("pro");
      await page.waitForFunction(() => window.__shellDouble.auditLog.length === 1);
      await page.getByRole("button", { name: "Audit log" }).click();
      await page.getByRole("table", { name: "Audit log" }).locator("tbody tr").first().waitFor();
    },
  },
];

for (const colorScheme of ["light", "dark"]) {
  test(`screens_have_no_serious_accessibility_violations (${colorScheme})`, async () => {
    const problems = [];
    for (const screen of screens) {
      const { page, errors } = await openPage(screen.setup, { colorScheme, hash: screen.hash ?? "" });
      await page.getByRole("navigation", { name: screen.nav ?? "Screens" }).waitFor();
      await screen.open(page);
      // Transitions and late renders settle before the check.
      await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
      await page.addScriptTag({ path: axePath });
      const violations = await page.evaluate(async () => {
        const result = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
        return result.violations
          .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
          .map((violation) => ({
            rule: violation.id,
            impact: violation.impact,
            help: violation.help,
            targets: violation.nodes.slice(0, 4).map((node) => `${node.target.join(" ")} — ${node.failureSummary?.split("\n")[1]?.trim() ?? ""}`),
          }));
      });
      for (const violation of violations) problems.push({ screen: screen.name, ...violation });
      assert.deepEqual(errors, [], `${screen.name}: page errors`);
      await page.close();
    }
    assert.deepEqual(problems, [], JSON.stringify(problems, null, 2));
  });
}
