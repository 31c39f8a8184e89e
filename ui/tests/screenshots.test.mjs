// Every screen in headless Chromium, light and dark, at 800×600 and
// 1440×900, compared with the reference images in tests/reference/. A
// mismatch leaves the actual image and a diff in tests/reference/failed/;
// ORRERY_UPDATE_SCREENSHOTS=1 (`make screenshots`) rewrites the references
// instead, for review in git diff.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import pixelmatch from "pixelmatch";
import { PNG } from "pngjs";
import { here, openPage } from "./harness.mjs";

const REFERENCES = join(here, "reference");
const FAILED = join(REFERENCES, "failed");
const UPDATE = process.env.ORRERY_UPDATE_SCREENSHOTS === "1";
const SIZES = [
  { width: 800, height: 600 },
  { width: 1440, height: 900 },
];
const THEMES = ["light", "dark"];
/** A pixel differs when its colour distance (pixelmatch, 0–1) is above this, anti-aliasing aside… */
const PIXEL_THRESHOLD = 0.1;
/** …and an image matches while at most this share of its pixels differ. */
const MAX_DIFFERING = 0.005;

// What the screens show: fixed names, counts and times, so every run draws the same pixels.
const GRAPHS = [
  { name: "Research team", node_count: 6, edge_count: 5, updated_at: "2026-12-04T09:30:00.000Z" },
  { name: "Support triage", node_count: 5, edge_count: 4, updated_at: "2026-12-03T16:10:00.000Z", pending_changes: 0 },
  { name: "Quarterly report pipeline", node_count: 42, edge_count: 57, updated_at: "2026-12-02T11:00:00.000Z" },
  { name: "Code review crew", node_count: 6, edge_count: 6, updated_at: "2026-11-28T08:45:00.000Z" },
  { name: "Old experiment", node_count: 3, edge_count: 2, deleted_at: "2026-12-01T12:00:00.000Z" },
];
const AGENTS = [
  { name: "Critic", model: "llama3.2", description: "Checks the draft against the facts." },
  { name: "Writer", model: "qwen2.5", description: "Drafts a short report." },
  {
    name: "Researcher",
    model: "llama3.2",
    description: "Gathers facts with their sources.",
    system_prompt: "You research the question.\nCite every source you use.",
    parameters: { temperature: 0.2 },
    tools: ["search", "fetch"],
  },
];
const PROMPTS = [
  {
    title: "Triage ticket",
    project: "Support",
    segment: "Inbox",
    versions: [{ content: "Sort {{message}} into a category and a priority.", status: "active" }],
  },
  {
    title: "Research brief",
    project: "Research",
    segment: "Team",
    tags: ["research"],
    validators: [
      { target: "content", kind: "length", min: null, max: 400 },
      { target: "output", kind: "contains", text: "Sources:", ignore_case: false },
    ],
    versions: [
      { content: "Answer {{task}}.\nList your sources.", status: "archived" },
      { content: "Answer {{task}} for {{agent}}.\nEnd with Sources: and a list.", status: "active" },
    ],
  },
];

const graphRows = (page) => page.getByRole("list", { name: "Graphs" }).getByRole("listitem");
const synced = (page) => page.getByTestId("sync-status").filter({ hasText: "Synced" }).waitFor();

/** Every screen: how to reach it, and what must be on screen before it is drawn. */
const MARKET = [
  { title: "Contract reviewer", kind: "agent", description: "Reads a contract and flags the clauses that need a lawyer's eye, with the reason for each.", tags: ["legal", "contracts"], seller: "Grace Hopper", purchases: 1284, rating: 4.7, rating_count: 212, pricing: "one_off", price_minor: 1999, currency: "usd",
    preview: "Contract reviewer\nReads a contract and flags risky clauses.\nModel: llama3.1:8b",
    reviews: [
      { author: "Linus", rating: 5, body: "Caught an indemnity clause our team missed.", updated_at: "2026-12-04T10:00:00.000Z" },
      { author: "Ada", rating: 4, body: "Good on leases; slower on long contracts.", updated_at: "2026-12-02T10:00:00.000Z" },
    ] },
  { title: "Release notes writer", kind: "prompt", description: "Turns a list of merged changes into release notes people read.", tags: ["writing", "engineering"], seller: "Linus", purchases: 640, rating: 4.4, rating_count: 88 },
  { title: "Support triage", kind: "agent", description: "Sorts incoming tickets by product and urgency, and drafts a first answer.", tags: ["support"], seller: "Grace Hopper", purchases: 315, rating: 4.1, rating_count: 40, owned: true },
  { title: "Research brief", kind: "prompt", description: "A one-page brief with sources for any question.", tags: ["research"], seller: "Ada", purchases: 0, rating: null, rating_count: 0, mine: true },
  { title: "Trip planner", kind: "agent", description: "Plans a weekend away: trains, rooms and what to see.", tags: ["travel"], seller: "Margaret", purchases: 97, rating: 3.9, rating_count: 15, pricing: "one_off", price_minor: 500, currency: "eur" },
];
const MARKET_SALES = {
  months: [
    { month: "2026-12", listing_id: "l1", title: "Research brief", currency: "usd", sales: 38, gross_minor: 37962, fee_minor: 7592, refunds_minor: 999, net_minor: 29371 },
    { month: "2026-11", listing_id: "l1", title: "Research brief", currency: "usd", sales: 51, gross_minor: 50949, fee_minor: 10190, refunds_minor: 0, net_minor: 40759 },
  ],
  totals: { usd: { sales: 89, gross_minor: 88911, fee_minor: 17782, refunds_minor: 999, net_minor: 70130 } },
  sales: [
    { purchase_id: "0193a1b2-7c4d-7e8f-9a0b-000000000001", listing_id: "l1", title: "Research brief", buyer: "Linus", state: "paid", amount_minor: 999, fee_minor: 200, currency: "usd", created_at: "2026-12-06T10:00:00.000Z", refunded_at: null, refund_reason: null },
    { purchase_id: "0193a1b2-7c4d-7e8f-9a0b-000000000002", listing_id: "l1", title: "Research brief", buyer: "Margaret", state: "refunded", amount_minor: 999, fee_minor: 200, currency: "usd", created_at: "2026-12-05T10:00:00.000Z", refunded_at: "2026-12-05T12:00:00.000Z", refund_reason: "Bought twice by mistake." },
    { purchase_id: "0193a1b2-7c4d-7e8f-9a0b-000000000003", listing_id: "l1", title: "Research brief", buyer: "Grace Hopper", state: "paid", amount_minor: 999, fee_minor: 200, currency: "usd", created_at: "2026-12-04T10:00:00.000Z", refunded_at: null, refund_reason: null },
  ],
  payouts: [
    { id: "po_2", amount_minor: 29371, currency: "usd", status: "in_transit", arrival_date: "2026-12-09T00:00:00.000Z" },
    { id: "po_1", amount_minor: 40759, currency: "usd", status: "paid", arrival_date: "2026-12-02T00:00:00.000Z" },
  ],
};
const SCREENS = [
  {
    name: "graphs-empty",
    setup: {},
    open: async (page) => {
      await page.getByRole("list", { name: "Templates" }).getByRole("listitem").nth(3).waitFor();
      await synced(page);
    },
  },
  {
    name: "graphs",
    setup: { graphs: GRAPHS },
    open: async (page) => {
      await graphRows(page).nth(3).waitFor();
      await page.getByTestId("deleted-graphs").waitFor();
      await synced(page);
    },
  },
  {
    name: "agents",
    setup: { agents: AGENTS },
    open: async (page) => {
      await page.getByRole("button", { name: "Agents", exact: true }).click();
      await page.getByRole("button", { name: /^Researcher/ }).click();
      await page.getByRole("form", { name: "Edit agent" }).waitFor();
    },
  },
  {
    name: "prompts",
    setup: { prompts: PROMPTS },
    open: async (page) => {
      await page.getByRole("button", { name: "Prompts", exact: true }).click();
      await page.getByRole("button", { name: /^Research brief/ }).click();
      await page.getByRole("table", { name: "Comparison" }).waitFor();
    },
  },
  {
    name: "providers",
    setup: {},
    open: async (page) => {
      await page.getByRole("button", { name: "Providers", exact: true }).click();
      await page.waitForFunction(() => document.querySelector("input[name=base_url]")?.value);
    },
  },
  {
    name: "marketplace",
    setup: { agents: AGENTS, marketplace: MARKET },
    open: async (page) => {
      await page.getByRole("button", { name: "Marketplace", exact: true }).click();
      await page.getByRole("article", { name: "Trip planner" }).waitFor();
    },
  },
  {
    name: "marketplace-listing",
    setup: { agents: AGENTS, marketplace: MARKET },
    open: async (page) => {
      await page.getByRole("button", { name: "Marketplace", exact: true }).click();
      await page.getByRole("button", { name: "Contract reviewer", exact: true }).click();
      await page.getByRole("region", { name: "Reviews" }).getByText("Caught an indemnity clause").waitFor();
    },
  },
  {
    name: "marketplace-selling",
    setup: { agents: AGENTS, prompts: PROMPTS, marketplace: MARKET, seller: { connected: true, charges_enabled: true, payouts_enabled: true, details_submitted: true } },
    open: async (page) => {
      await page.getByRole("button", { name: "Marketplace", exact: true }).click();
      await page.getByRole("button", { name: "Selling", exact: true }).click();
      await page.getByRole("region", { name: "Your listings" }).getByText("Research brief").waitFor();
      await page.getByLabel("Item").locator("option").nth(1).waitFor({ state: "attached" });
    },
  },
  {
    name: "marketplace-sales",
    setup: { agents: AGENTS, marketplace: MARKET, marketSales: MARKET_SALES, seller: { connected: true, charges_enabled: true, payouts_enabled: true, details_submitted: true } },
    open: async (page) => {
      await page.getByRole("button", { name: "Marketplace", exact: true }).click();
      await page.getByRole("button", { name: "Sales", exact: true }).click();
      await page.getByRole("region", { name: "Payouts" }).getByText("in transit").waitFor();
    },
  },
  {
    name: "graph-history",
    setup: {
      graphs: GRAPHS.slice(0, 2),
      history: {
        "Research team": [
          { name: "Edits from elsewhere arrived", at: "2026-12-06T15:00:00.000Z", named: false },
          {
            name: "Before the review",
            at: "2026-12-05T09:00:00.000Z",
            by: "Grace Hopper",
            diff: { added_nodes: ["n-4"], removed_nodes: ["n-1"], moved_nodes: ["n-2", "n-5"], relabelled_nodes: ["n-3"], added_edges: ["e-1"], removed_edges: ["e-2", "e-3"] },
            labels: { "n-1": "Planner", "n-2": "Writer", "n-3": "Fact checker", "n-4": "Editor", "n-5": "Critic" },
          },
          { name: "First draft", at: "2026-12-01T10:00:00.000Z", by: "Ada" },
        ],
      },
      promptHistory: {
        "Research team": [
          {
            id: "p-1",
            title: "Research brief",
            versions: [
              { number: 3, status: "active", created_at: "2026-12-04T10:00:00.000Z", activated_at: "2026-12-04T11:00:00.000Z" },
              { number: 2, status: "archived", created_at: "2026-12-02T10:00:00.000Z", activated_at: "2026-12-02T10:05:00.000Z" },
              { number: 1, status: "archived", created_at: "2026-11-30T10:00:00.000Z", activated_at: "2026-11-30T10:05:00.000Z" },
            ],
          },
        ],
      },
    },
    open: async (page) => {
      await page.getByRole("button", { name: "History of Research team" }).click();
      const panel = page.getByRole("region", { name: "History of Research team" });
      await panel.getByRole("listitem").filter({ hasText: "Before the review" }).getByRole("button", { name: "Compare with now" }).click();
      await panel.getByRole("region", { name: "Changes since then" }).waitFor();
      await panel.getByRole("region", { name: "Prompts this graph uses" }).getByText("Research brief").waitFor();
    },
  },
  {
    name: "graphs-in-a-team",
    setup: {
      graphs: GRAPHS.slice(0, 2),
      teams: [
        { name: "Research", role: "editor", graphs: [{ name: "Team roadmap", node_count: 9, edge_count: 8, updated_at: "2026-12-04T09:30:00.000Z" }] },
        { name: "Support crew", role: "viewer", graphs: [{ name: "Triage", node_count: 5, edge_count: 4, updated_at: "2026-12-03T16:10:00.000Z" }] },
      ],
    },
    open: async (page) => {
      await page.getByLabel("Workspace").selectOption({ label: "Support crew" });
      await page.getByTestId("read-only").waitFor();
      await page.locator("ul.graphs li .name", { hasText: "Triage" }).waitFor();
    },
  },
  {
    name: "teams",
    setup: {
      teams: [
        {
          name: "Research",
          role: "owner",
          members: [
            { name: "Grace Hopper", email: "grace@harbour.example", role: "admin", added_at: "2026-11-22T09:00:00.000Z" },
            { name: "Linus Pauling", email: "linus@harbour.example", role: "editor", added_at: "2026-11-24T14:00:00.000Z" },
            { name: "Ines Duarte", email: "ines@harbour.example", role: "viewer", added_at: "2026-12-01T10:30:00.000Z" },
          ],
          invitations: [{ email: "marie@harbour.example", role: "editor", expires_at: "2026-12-12T10:00:00.000Z" }],
        },
        { name: "Support crew", role: "viewer", members: [{ name: "Olga", email: "olga@harbour.example", role: "owner" }] },
      ],
    },
    open: async (page) => {
      await page.getByRole("button", { name: "Teams", exact: true }).click();
      await page.getByTestId("team-panel").getByRole("table", { name: "Members" }).waitFor();
      await page.getByRole("list", { name: "Pending invitations" }).waitFor();
    },
  },
  {
    name: "channels",
    setup: {
      agents: AGENTS,
      serverProvider: { mode: "live", kind: "open_ai_compatible", base_url: "http://127.0.0.1:11434/v1", model: "llama3.2", has_api_key: false, updated_at: "2026-12-05T10:00:00.000Z" },
      channels: [
        {
          kind: "telegram",
          name: "@orrery_helper_bot",
          agent_name: "Researcher",
          last_messages: [
            { chat: "4242", direction: "out", text: "Sources: the release notes and the support inbox.", status: "sent", detail: null, at: "2026-12-05T10:02:00.000Z" },
            { chat: "4242", direction: "in", text: "What changed in the last release?", status: "answered", detail: null, at: "2026-12-05T10:01:00.000Z" },
            { chat: "77", direction: "in", text: "Are you there?", status: "refused", detail: "the Free plan does not include the telegram channel", at: "2026-12-04T08:00:00.000Z" },
          ],
        },
      ],
    },
    open: async (page) => {
      await page.getByRole("button", { name: "Channels", exact: true }).click();
      await page.getByRole("article", { name: "Telegram" }).getByRole("table").waitFor();
      await page.getByTestId("server-provider").getByText("llama3.2").waitFor();
    },
  },
  {
    name: "billing",
    setup: {},
    open: async (page) => {
      await page.getByRole("button", { name: "Billing", exact: true }).click();
      await page.getByRole("table", { name: "Invoices" }).waitFor();
      await page.getByTestId("usage-chart").locator("canvas").waitFor();
    },
  },
  {
    name: "account",
    setup: {},
    open: async (page) => {
      await page.getByRole("button", { name: "Ada", exact: true }).click();
      await page.getByRole("heading", { name: "Profile and settings" }).waitFor();
    },
  },
  {
    name: "sign-in",
    setup: { signedIn: false },
    open: (page) => page.getByRole("button", { name: "Continue with GitHub" }).waitFor(),
  },
  {
    name: "welcome",
    setup: { firstRun: true },
    open: async (page) => {
      await page.getByRole("dialog", { name: "Welcome to Orrery" }).waitFor();
      await page.getByRole("list", { name: "Templates" }).getByRole("listitem").nth(3).waitFor();
      await synced(page);
    },
  },
  {
    name: "manage-overview",
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
    name: "manage-marketplace",
    setup: { role: "admin", marketReports: [
      { listing_id: "0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b", title: "Contract reviewer", reporter_id: "u1", reason: "It copies another seller's agent.", created_at: "2026-12-05T10:00:00.000Z" },
      { listing_id: "0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b", title: "Contract reviewer", reporter_id: "u2", reason: "Same as the one by Grace.", created_at: "2026-12-04T10:00:00.000Z" },
      { listing_id: "0193a1b2-0000-7e8f-9a0b-1c2d3e4f5a6b", title: "Trip planner", reporter_id: "u3", reason: "Spam in the description.", created_at: "2026-12-03T10:00:00.000Z" },
    ] },
    hash: "#admin",
    nav: "Management screens",
    open: async (page) => {
      await page.getByRole("button", { name: "Marketplace", exact: true }).click();
      await page.getByRole("table", { name: "Reports" }).getByText("Spam in the description.").waitFor();
      await page.waitForFunction(() => document.querySelector('input[aria-label="Platform commission (%)"]')?.value === "20");
    },
  },
  {
    name: "manage-users",
    setup: { role: "admin", adminUsers: [
      { email: "grace@orrery.test", name: "Grace Hopper", plan: "pro", status: "active" },
      { email: "linus@orrery.test", name: "Linus", plan: "free", status: "past_due" },
    ] },
    hash: "#admin",
    nav: "Management screens",
    open: async (page) => {
      await page.getByRole("button", { name: "Users", exact: true }).click();
      await page.getByTestId("user-count").filter({ hasText: "3 users" }).waitFor();
    },
  },
  {
    name: "manage-tenants",
    setup: { role: "admin", adminUsers: [
      { email: "grace@orrery.test", name: "Grace Hopper", plan: "pro", status: "active" },
      { email: "linus@orrery.test", name: "Linus", plan: "free", status: "past_due" },
    ] },
    hash: "#admin",
    nav: "Management screens",
    open: async (page) => {
      await page.getByRole("button", { name: "Tenants", exact: true }).click();
      await page.getByTestId("tenant-count").filter({ hasText: "3 tenants" }).waitFor();
    },
  },
  {
    name: "manage-monitoring",
    setup: { role: "admin" },
    hash: "#admin",
    nav: "Management screens",
    open: async (page) => {
      await page.getByRole("button", { name: "Monitoring", exact: true }).click();
      for (const chart of ["chart-runs", "chart-tokens", "chart-latency"]) {
        await page.getByTestId(chart).locator("canvas").waitFor();
      }
    },
  },
  {
    name: "manage-emails",
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
    name: "manage-prompts",
    setup: { role: "admin" },
    hash: "#admin",
    nav: "Management screens",
    open: async (page) => {
      await page.getByRole("button", { name: "Prompts", exact: true }).click();
      await page.getByTestId("prompt-count").filter({ hasText: "4 published versions" }).waitFor();
    },
  },
  {
    name: "manage-plans",
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
    name: "about",
    setup: {},
    open: async (page) => {
      await page.getByRole("list", { name: "Templates" }).getByRole("listitem").nth(3).waitFor();
      await synced(page);
      await page.getByRole("button", { name: "About Orrery" }).click();
      await page.getByRole("dialog", { name: "Orrery" }).getByRole("button", { name: "Source code ↗" }).waitFor();
    },
  },
  {
    name: "update-bar",
    setup: { graphs: GRAPHS, update: { version: "0.1.1", notes: "Graphs of 100k nodes open twice as fast.\nThe chat panel keeps its place when a run ends." } },
    open: async (page) => {
      await graphRows(page).nth(3).waitFor();
      await synced(page);
      await page.evaluate(() => window.__shellDouble.emit("update-state", {
        status: "available", current_version: "0.1.0", version: "0.1.1", pub_date: "2026-12-07T10:00:00Z", message: null,
        notes: "Graphs of 100k nodes open twice as fast.\nThe chat panel keeps its place when a run ends.",
      }));
      await page.getByTestId("update-bar").getByText("What's new").click();
      await page.getByTestId("update-notes").waitFor();
    },
  },
];

/** Compares `shot` with its reference; the problem in words, or null when they match. */
async function check(name, label, shot) {
  const path = join(REFERENCES, `${name}.png`);
  const actual = PNG.sync.read(shot);
  let expected = null;
  try {
    expected = PNG.sync.read(await readFile(path));
  } catch {
    // No reference yet.
  }
  if (UPDATE) {
    // Rewritten only when a pixel changed, so git diff lists what did.
    if (!expected || !expected.data.equals(actual.data)) await writeFile(path, shot);
    return null;
  }
  if (!expected) return `${label}: no reference image ${relative(process.cwd(), path)} (make screenshots writes it)`;
  const { width, height } = actual;
  const saveActual = async () => {
    await mkdir(FAILED, { recursive: true });
    const actualPath = join(FAILED, `${name}.actual.png`);
    await writeFile(actualPath, shot);
    return relative(process.cwd(), actualPath);
  };
  if (expected.width !== width || expected.height !== height) {
    return `${label}: the reference is ${expected.width}×${expected.height}, the screen ${width}×${height}; see ${await saveActual()}`;
  }
  const diff = new PNG({ width, height });
  const differing = pixelmatch(expected.data, actual.data, diff.data, width, height, { threshold: PIXEL_THRESHOLD });
  if (differing <= MAX_DIFFERING * width * height) return null;
  const actualPath = await saveActual();
  const diffPath = join(FAILED, `${name}.diff.png`);
  await writeFile(diffPath, PNG.sync.write(diff));
  const share = ((100 * differing) / (width * height)).toFixed(2);
  return `${label}: ${differing} pixels differ (${share}%, at most ${MAX_DIFFERING * 100}% may); see ${actualPath} and ${relative(process.cwd(), diffPath)}`;
}

test("screens_match_reference_screenshots", async () => {
  await rm(FAILED, { recursive: true, force: true });
  await mkdir(REFERENCES, { recursive: true });
  const problems = [];
  for (const screen of SCREENS) {
    for (const colorScheme of THEMES) {
      for (const viewport of SIZES) {
        const label = `${screen.name} (${colorScheme}, ${viewport.width}×${viewport.height})`;
        const { page, errors } = await openPage(screen.setup, { colorScheme, viewport, locale: "en-US", timezoneId: "UTC", hash: screen.hash });
        await page.getByRole("navigation", { name: screen.nav ?? "Screens" }).waitFor();
        await screen.open(page);
        // Fonts loaded, and two frames drawn since the last change.
        await page.evaluate(async () => {
          await document.fonts.ready;
          await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
        });
        const shot = await page.screenshot({ animations: "disabled", caret: "hide", scale: "css" });
        const problem = await check(`${screen.name}-${colorScheme}-${viewport.width}x${viewport.height}`, label, shot);
        if (problem) problems.push(problem);
        assert.deepEqual(errors, [], `${label}: page errors`);
        await page.close();
      }
    }
  }
  assert.deepEqual(problems, [], `screens differ from their reference screenshots:\n${problems.join("\n")}`);
});
