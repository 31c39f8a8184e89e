// The Marketplace screen in headless Chromium, against the shell's IPC contract.
import { test } from "node:test";
import assert from "node:assert/strict";
import { openPage } from "./harness.mjs";

const LISTINGS = [
  { title: "Contract reviewer", kind: "agent", description: "Flags risky clauses in contracts.", tags: ["legal", "contracts"], seller: "Grace Hopper", purchases: 12, rating: 4.5, rating_count: 4, preview: "Contract reviewer\nModel: llama3.1:8b" },
  { title: "Clause finder", kind: "prompt", description: "Finds the clause you ask about.", tags: ["legal"], seller: "Linus", purchases: 30, rating: 3.5, rating_count: 2 },
  { title: "Trip planner", kind: "agent", description: "Plans a weekend away.", tags: ["travel"], seller: "Margaret", purchases: 2, rating: null, rating_count: 0 },
];

async function openScreen(setup = {}) {
  const { page, errors } = await openPage({ agents: [{ name: "Helper", model: "llama3.2" }], marketplace: LISTINGS, ...setup });
  await page.getByRole("button", { name: "Marketplace", exact: true }).click();
  await page.getByRole("heading", { name: "Marketplace", level: 1 }).waitFor();
  return { page, errors };
}

const cards = (page) => page.locator(".market-card h2").allTextContents();

test("search, filters and sorts ask the marketplace and show what it answers", async () => {
  const { page, errors } = await openScreen();
  await page.getByRole("article", { name: "Trip planner" }).waitFor();
  assert.deepEqual(await cards(page), ["Contract reviewer", "Clause finder", "Trip planner"]);

  await page.getByLabel("Search", { exact: true }).fill("clause");
  await page.getByTestId("market-total").filter({ hasText: "2 listings" }).waitFor();
  assert.deepEqual(await cards(page), ["Contract reviewer", "Clause finder"]);

  await page.getByLabel("Kind").selectOption("prompt");
  await page.getByTestId("market-total").filter({ hasText: "1 listing" }).waitFor();
  assert.deepEqual(await cards(page), ["Clause finder"]);

  await page.getByLabel("Kind").selectOption("");
  await page.getByLabel("Search", { exact: true }).fill("");
  await page.getByLabel("Sort").selectOption("most_bought");
  await page.waitForFunction(() => document.querySelector(".market-card h2")?.textContent === "Clause finder");
  assert.deepEqual(await cards(page), ["Clause finder", "Contract reviewer", "Trip planner"]);

  // A tag on a card filters by it; the filter shows and can be removed.
  await page.getByRole("article", { name: "Contract reviewer" }).getByRole("button", { name: "contracts" }).click();
  await page.getByTestId("market-total").filter({ hasText: "1 listing" }).waitFor();
  await page.getByRole("button", { name: "Remove tag contracts" }).click();
  await page.getByTestId("market-total").filter({ hasText: "3 listings" }).waitFor();

  await page.getByLabel("Search", { exact: true }).fill("zeppelin");
  await page.getByTestId("market-empty").filter({ hasText: "Nothing matches “zeppelin”" }).waitFor();
  const search = await page.evaluate(() => window.__shellDouble.calls.filter((call) => call.command === "market_search").at(-1).args.search);
  assert.equal(search.query, "zeppelin");
  assert.equal(search.sort, "most_bought");
  assert.deepEqual(errors, []);
});

test("a listing is got into the library, then reviewed; the seller's own cannot be got", async () => {
  const { page, errors } = await openScreen();
  await page.getByRole("button", { name: "Contract reviewer", exact: true }).click();
  const listing = page.getByRole("article", { name: "Contract reviewer" });
  await listing.getByText("Model: llama3.1:8b").waitFor();
  assert.equal(await listing.getByRole("form", { name: "Your review" }).count(), 0, "only those who have it review");

  await listing.getByRole("button", { name: "Get it free" }).click();
  await page.getByText("“Contract reviewer” is in your library.").waitFor();
  await listing.getByText("In your library").waitFor();
  const library = await page.evaluate(() => window.__shellDouble.calls.some((call) => call.command === "market_buy"));
  assert.ok(library);

  const review = listing.getByRole("form", { name: "Your review" });
  await review.getByLabel("Your rating").selectOption("4");
  await review.getByLabel("Your review").fill("Caught a bad indemnity clause.");
  await review.getByRole("button", { name: "Save review" }).click();
  await listing.getByRole("region", { name: "Reviews" }).getByText("Caught a bad indemnity clause.").waitFor();
  await review.getByRole("button", { name: "Update review" }).waitFor();

  // The agent is in the library now.
  await page.getByRole("button", { name: "Agents", exact: true }).click();
  await page.getByRole("button", { name: /^Contract reviewer/ }).waitFor();

  // What was got is listed under Purchased.
  await page.getByRole("button", { name: "Marketplace", exact: true }).click();
  await page.getByRole("button", { name: "Purchased", exact: true }).click();
  await page.getByRole("table").getByRole("button", { name: "Contract reviewer" }).waitFor();
  assert.deepEqual(errors, []);
});

test("an item is listed from the library, published again and delisted after a confirmation; a bad tag is refused with the reason", async () => {
  const { page, errors } = await openScreen({ prompts: [{ title: "Tax summary", versions: [{ content: "Summarise {{letter}}.", status: "active" }] }] });
  await page.getByRole("button", { name: "Selling", exact: true }).click();
  const form = page.getByRole("form", { name: "List an item" });
  assert.deepEqual(await form.getByLabel("Item").locator("option").allTextContents(), ["Agent · Helper", "Prompt · Tax summary"]);

  await form.getByLabel("Item").selectOption({ label: "Prompt · Tax summary" });
  await form.getByLabel("Description").fill("Summarises a tax letter in plain words.");
  await form.getByLabel("Tags").fill("money, <b>");
  await form.getByRole("button", { name: "List it" }).click();
  await page.getByRole("alert").filter({ hasText: "a tag is 1 to 32 letters" }).waitFor();

  await form.getByLabel("Tags").fill("money, taxes");
  await form.getByRole("button", { name: "List it" }).click();
  await page.getByText("“Tax summary” is on the marketplace.").waitFor();
  const created = await page.evaluate(() => window.__shellDouble.calls.filter((call) => call.command === "market_create_listing").at(-1).args.listing);
  assert.equal(created.kind, "prompt");
  assert.equal(created.title, "Tax summary", "the item's name is the title unless one is typed");
  assert.deepEqual(created.tags, ["money", "taxes"]);

  const row = page.getByRole("region", { name: "Your listings" }).getByRole("row", { name: /Tax summary/ });
  await row.getByRole("button", { name: "Publish new version" }).click();
  await page.getByText("“Tax summary” has not changed since its last version.").waitFor();
  await row.getByRole("button", { name: "Delist" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delist" }).click();
  await row.getByText("Delisted").waitFor();
  assert.deepEqual(errors, []);
});

test("a paid listing opens Stripe Checkout in the browser, waits, and lands in the library when Stripe confirms", async () => {
  const paid = { title: "Contract reviewer Pro", kind: "agent", description: "Flags risky clauses, with citations.", tags: ["legal"], seller: "Grace Hopper", pricing: "one_off", price_minor: 1999, currency: "usd" };
  const { page, errors } = await openScreen({ marketplace: [paid, ...LISTINGS] });
  await page.getByRole("button", { name: "Contract reviewer Pro", exact: true }).click();
  const listing = page.getByRole("article", { name: "Contract reviewer Pro" });
  await listing.getByRole("button", { name: "Buy for $19.99" }).click();
  await listing.getByTestId("market-awaiting").filter({ hasText: "Waiting for your payment" }).waitFor();
  let opened = await page.evaluate(() => window.__shellDouble.browserPages);
  assert.deepEqual(opened, ["https://checkout.stripe.test/c/pay/cs_1"]);
  // Pressing again reopens the same payment page: one checkout.
  await listing.getByRole("button", { name: "Open the payment page again" }).click();
  await page.waitForFunction(() => window.__shellDouble.browserPages.length === 2);
  opened = await page.evaluate(() => window.__shellDouble.browserPages);
  assert.equal(opened[1], opened[0]);

  // Stripe confirms: the library changes, and the page says so.
  await page.evaluate(() => window.__shellDouble.pay("Contract reviewer Pro"));
  await page.getByText("Paid: “Contract reviewer Pro” is in your library.").waitFor();
  await listing.getByText("In your library").waitFor();
  await page.getByRole("button", { name: "Purchased", exact: true }).click();
  const row = page.getByRole("row", { name: /Contract reviewer Pro/ });
  await row.getByText("$19.99").waitFor();
  await row.getByText("In your library").waitFor();
  assert.deepEqual(errors, []);
});

test("a purchase waiting for payment, and a refunded one, say where they stand", async () => {
  const { page, errors } = await openScreen({
    marketPurchases: [
      { id: "p1", listing_id: "l1", title: "Clause finder", kind: "prompt", version: "v", state: "pending", amount_minor: 500, currency: "eur", item_id: null, created_at: "2026-12-06T10:00:00.000Z", checkout_url: "https://checkout.stripe.test/c/pay/cs_9", refunded_at: null, refund_reason: null },
      { id: "p2", listing_id: "l2", title: "Trip planner", kind: "agent", version: "v", state: "refunded", amount_minor: 900, currency: "usd", item_id: null, created_at: "2026-12-02T10:00:00.000Z", checkout_url: null, refunded_at: "2026-12-03T10:00:00.000Z", refund_reason: "Sold by mistake." },
    ],
  });
  await page.getByRole("button", { name: "Purchased", exact: true }).click();
  const pending = page.getByRole("row", { name: /Clause finder/ });
  await pending.getByText("Waiting for payment").waitFor();
  await pending.getByRole("button", { name: "Pay now" }).waitFor();
  const refunded = page.getByRole("row", { name: /Trip planner/ });
  await refunded.getByText("Sold by mistake.").waitFor();
  await refunded.getByText("removed from your library").waitFor();
  assert.deepEqual(errors, []);
});

test("a seller connects Stripe, then lists for a price and sees what they receive", async () => {
  const { page, errors } = await openScreen();
  await page.getByRole("button", { name: "Selling", exact: true }).click();
  const payments = page.getByRole("region", { name: "Payments" });
  await payments.getByText("Sell for money: connect a Stripe account.").waitFor();
  const form = page.getByRole("form", { name: "List an item" });
  assert.equal(await form.getByRole("radio", { name: "One-off price" }).isDisabled(), true, "paid listings wait for Stripe");
  await form.getByText("Paid listings open once your Stripe account takes payments").waitFor();
  await payments.getByRole("button", { name: "Connect with Stripe" }).click();
  await page.getByText("Stripe's forms are open in your browser.").waitFor();
  assert.deepEqual(await page.evaluate(() => window.__shellDouble.browserPages), ["https://connect.stripe.test/setup/e/acct_000001/1"]);

  // Once Stripe says the account takes charges.
  const { page: ready, errors: readyErrors } = await openScreen({ seller: { connected: true, charges_enabled: true, payouts_enabled: true, details_submitted: true } });
  await ready.getByRole("button", { name: "Selling", exact: true }).click();
  await ready.getByTestId("market-payments-on").waitFor();
  const listForm = ready.getByRole("form", { name: "List an item" });
  await listForm.getByLabel("Description").fill("Answers questions about your lease.");
  await listForm.getByRole("radio", { name: "One-off price" }).check();
  await listForm.getByLabel("Price", { exact: true }).fill("19.999");
  await listForm.getByRole("button", { name: "List it" }).click();
  await ready.getByRole("alert").filter({ hasText: "A price is from 1.00 to 10,000.00" }).waitFor();
  await listForm.getByLabel("Price", { exact: true }).fill("19.99");
  await listForm.getByText("You receive $15.99 of each sale after the 20% fee.").waitFor();
  await listForm.getByRole("button", { name: "List it" }).click();
  await ready.getByText("“Helper” is on the marketplace.").waitFor();
  const created = await ready.evaluate(() => window.__shellDouble.calls.filter((call) => call.command === "market_create_listing").at(-1).args.listing);
  assert.deepEqual([created.pricing, created.price_minor, created.currency], ["one_off", 1999, "usd"]);
  await ready.getByRole("region", { name: "Your listings" }).getByRole("row", { name: /Helper/ }).getByText("$19.99").waitFor();
  assert.deepEqual(errors, []);
  assert.deepEqual(readyErrors, []);
});

const SALES = {
  months: [
    { month: "2026-12", listing_id: "l1", title: "Contract reviewer Pro", currency: "usd", sales: 2, gross_minor: 3998, fee_minor: 800, refunds_minor: 0, net_minor: 3198 },
  ],
  totals: { usd: { sales: 2, gross_minor: 3998, fee_minor: 800, refunds_minor: 0, net_minor: 3198 } },
  sales: [
    { purchase_id: "0193a1b2-7c4d-7e8f-9a0b-000000000001", listing_id: "l1", title: "Contract reviewer Pro", buyer: "Linus", state: "paid", amount_minor: 1999, fee_minor: 400, currency: "usd", created_at: "2026-12-06T10:00:00.000Z", refunded_at: null, refund_reason: null },
    { purchase_id: "0193a1b2-7c4d-7e8f-9a0b-000000000002", listing_id: "l1", title: "Contract reviewer Pro", buyer: "Margaret", state: "paid", amount_minor: 1999, fee_minor: 400, currency: "usd", created_at: "2026-12-05T10:00:00.000Z", refunded_at: null, refund_reason: null },
  ],
  payouts: [{ id: "po_1", amount_minor: 1599, currency: "usd", status: "in_transit", arrival_date: "2026-12-08T00:00:00.000Z" }],
};

test("the sales report adds up, and a sale is refunded with a reason the buyer sees", async () => {
  const { page, errors } = await openScreen({ marketSales: structuredClone(SALES), seller: { connected: true, charges_enabled: true, payouts_enabled: true } });
  await page.getByRole("button", { name: "Sales", exact: true }).click();
  await page.getByTestId("market-net-usd").filter({ hasText: "$31.98" }).waitFor();
  await page.getByRole("region", { name: "Payouts" }).getByText("in transit").waitFor();
  const sale = page.getByRole("region", { name: "Latest sales" }).getByRole("row", { name: /Linus/ });
  await sale.getByRole("button", { name: "Refund…" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByText("Refund $19.99 to Linus?").waitFor();
  // A reason is required: the dialog stays until one is given.
  await dialog.getByRole("button", { name: "Refund" }).click();
  assert.equal(await dialog.isVisible(), true);
  await dialog.getByLabel("Why (the buyer sees this)").fill("Bought twice by mistake.");
  await dialog.getByRole("button", { name: "Refund" }).click();
  await page.getByText("Refunded. “Contract reviewer Pro” has left Linus's library.").waitFor();
  await sale.getByText("Bought twice by mistake.").waitFor();
  await page.getByTestId("market-net-usd").filter({ hasText: "$15.99" }).waitFor();
  const refund = await page.evaluate(() => window.__shellDouble.calls.filter((call) => call.command === "market_refund").at(-1).args);
  assert.deepEqual(refund, { purchaseId: "0193a1b2-7c4d-7e8f-9a0b-000000000001", reason: "Bought twice by mistake." });
  assert.deepEqual(errors, []);
});
