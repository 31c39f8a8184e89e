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
