// The agent and prompt screens in headless Chromium, against the shell's IPC contract.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { here, openPage } from "./harness.mjs";

async function openScreen(name) {
  const { page, errors } = await openPage();
  await page.getByRole("button", { name, exact: true }).click();
  await page.getByRole("heading", { name }).waitFor();
  return { page, errors };
}

const items = (page, name) => page.getByRole("list", { name }).getByRole("listitem");
const calls = (page, command) =>
  page.evaluate((wanted) => window.__shellDouble.calls.filter((call) => call.command === wanted), command);

test("an agent is created, edited and duplicated with every field", async () => {
  const { page, errors } = await openScreen("Agents");
  await page.getByText("No agents yet").waitFor();
  await page.getByRole("button", { name: "New agent" }).click();
  await page.getByLabel("Name").fill("  Researcher  ");
  await page.getByLabel("Model").fill("llama3.2");
  await page.getByLabel("Description").fill("Finds sources");
  await page.getByLabel("System prompt").fill("You research.\nCite sources.");
  await page.getByLabel("Parameters (JSON)").fill('{"temperature": 0.2}');
  await page.getByLabel("Tools (comma-separated)").fill("search, fetch, ");
  await page.getByLabel("Public: others may see and use it").check();
  await page.getByRole("button", { name: "Create agent" }).click();
  await items(page, "Agents").filter({ hasText: "Researcher" }).waitFor();

  const [created] = await calls(page, "save_agent");
  assert.deepEqual(created.args.agent, {
    id: null,
    name: "  Researcher  ",
    description: "Finds sources",
    system_prompt: "You research.\nCite sources.",
    model: "llama3.2",
    parameters: { temperature: 0.2 },
    tools: ["search", "fetch"],
    public: true,
  });
  assert.match(await items(page, "Agents").first().textContent(), /Model llama3\.2/);

  // Editing keeps the id; the form shows what was saved.
  await page.getByLabel("Model").fill("qwen2.5");
  await page.getByRole("button", { name: "Save agent" }).click();
  await page.getByRole("alert").filter({ hasText: "Saved." }).waitFor();
  const saves = await calls(page, "save_agent");
  assert.equal(saves.length, 2);
  assert.notEqual(saves[1].args.agent.id, null);
  assert.equal(await page.getByLabel("Model").inputValue(), "qwen2.5");
  assert.equal(await page.getByLabel("Tools (comma-separated)").inputValue(), "search, fetch");

  await page.getByRole("button", { name: "Duplicate" }).click();
  await items(page, "Agents").filter({ hasText: "Researcher (copy)" }).waitFor();
  assert.equal(await items(page, "Agents").count(), 2);
  assert.equal(await page.getByLabel("Name").inputValue(), "Researcher (copy)");
  await mkdir(join(here, "..", "test-results"), { recursive: true });
  await page.screenshot({ path: join(here, "..", "test-results", "agents.png") });
  assert.deepEqual(errors, []);
});

test("bad agent input is refused with the reason and nothing is saved", async () => {
  const { page } = await openScreen("Agents");
  await page.getByRole("button", { name: "New agent" }).click();
  const alert = page.getByRole("alert");
  await page.getByLabel("Name").fill("   ");
  await page.getByRole("button", { name: "Create agent" }).click();
  await alert.filter({ hasText: "Give the name a value." }).waitFor();
  await page.getByLabel("Name").fill("x".repeat(201));
  await page.getByRole("button", { name: "Create agent" }).click();
  await alert.filter({ hasText: "at most 200 characters" }).waitFor();
  await page.getByLabel("Name").fill("Planner");
  await page.getByLabel("Parameters (JSON)").fill("{temperature: }");
  await page.getByRole("button", { name: "Create agent" }).click();
  await alert.filter({ hasText: "Parameters are not JSON" }).waitFor();
  await page.getByLabel("Parameters (JSON)").fill("[1, 2]");
  await page.getByRole("button", { name: "Create agent" }).click();
  await alert.filter({ hasText: "Parameters are a JSON object" }).waitFor();
  await page.getByLabel("Parameters (JSON)").fill(JSON.stringify({ blob: "x".repeat(17 * 1024) }));
  await page.getByRole("button", { name: "Create agent" }).click();
  await alert.filter({ hasText: "at most 16 KiB" }).waitFor();
  await page.getByLabel("Parameters (JSON)").fill("");
  await page.getByLabel("Tools (comma-separated)").fill(Array.from({ length: 65 }, (_, i) => `tool${i}`).join(","));
  await page.getByRole("button", { name: "Create agent" }).click();
  await alert.filter({ hasText: "At most 64 tools." }).waitFor();
  assert.equal((await calls(page, "save_agent")).length, 0);

  // What only the shell can refuse is shown as the shell said it.
  await page.evaluate(() =>
    window.__shellDouble.failWith("save_agent", { code: "invalid_input", message: "agent model must not contain control characters" }),
  );
  await page.getByLabel("Tools (comma-separated)").fill("");
  await page.getByRole("button", { name: "Create agent" }).click();
  await alert.filter({ hasText: "must not contain control characters" }).waitFor();
  assert.equal(await page.evaluate(() => window.__shellDouble.agents.size), 0);
});

async function createPrompt(page, title, project) {
  await page.getByRole("button", { name: "New prompt" }).click();
  await page.getByLabel("Title").fill(title);
  await page.getByLabel("Project").fill(project);
  await page.getByLabel("Segment").fill("Onboarding");
  await page.getByLabel("Tags (comma-separated)").fill("support, email");
  await page.getByRole("button", { name: "Create prompt" }).click();
  await page.getByRole("region", { name: "Versions" }).waitFor();
}

async function saveDraft(page, content) {
  const before = await page.locator("ol.version-list li[data-version]").count();
  await page.getByLabel("New version").fill(content);
  await page.getByRole("button", { name: "Save as draft" }).click();
  await page.locator("ol.version-list li[data-version]").nth(before).waitFor();
}

test("prompt versions: drafts, publish, roll back and a side-by-side comparison", async () => {
  const { page, errors } = await openScreen("Prompts");
  await createPrompt(page, "Welcome mail", "Support");
  assert.match(await items(page, "Prompts").first().textContent(), /Support \/ Onboarding · 0 versions/);

  await saveDraft(page, "Hello {{name}},\nwelcome aboard.");
  await saveDraft(page, "Hello {{ name }},\nwelcome to {{product}}.\nBye.");
  const versions = page.locator("ol.version-list li[data-version]");
  assert.deepEqual(await versions.evaluateAll((rows) => rows.map((row) => row.dataset.status)), ["draft", "draft"]);
  assert.equal(await page.getByTestId("variables").textContent(), "Variables: name, product");

  // Publish v2, then roll back to v1: exactly one version is active each time.
  await versions.nth(1).getByRole("button", { name: "Publish" }).click();
  await page.getByRole("alert").filter({ hasText: "Published v2." }).waitFor();
  assert.deepEqual(await versions.evaluateAll((rows) => rows.map((row) => row.dataset.status)), ["draft", "active"]);
  await versions.nth(0).getByRole("button", { name: "Publish" }).click();
  await page.getByRole("alert").filter({ hasText: "Published v1." }).waitFor();
  assert.deepEqual(await versions.evaluateAll((rows) => rows.map((row) => row.dataset.status)), ["active", "archived"]);
  await versions.nth(1).getByRole("button", { name: "Roll back to this" }).click();
  await page.getByRole("alert").filter({ hasText: "Rolled back to v2." }).waitFor();
  assert.deepEqual(await versions.evaluateAll((rows) => rows.map((row) => row.dataset.status)), ["archived", "active"]);
  const stored = await page.evaluate(() => [...window.__shellDouble.prompts.values()][0].versions);
  assert.equal(stored.filter((version) => version.status === "active").length, 1);
  assert.equal(stored.find((version) => version.status === "active").content, "Hello {{ name }},\nwelcome to {{product}}.\nBye.");

  // v1 against v2: the changed lines side by side, the added line on the right only.
  const rows = page.getByRole("table", { name: "Comparison" }).locator("tr");
  const table = await rows.evaluateAll((trs) =>
    trs.map((tr) => [tr.dataset.kind, ...[...tr.querySelectorAll("td")].map((td) => td.textContent)]),
  );
  assert.deepEqual(table, [
    ["changed", "Hello {{name}},", "Hello {{ name }},"],
    ["changed", "welcome aboard.", "welcome to {{product}}."],
    ["added", "", "Bye."],
  ]);
  await mkdir(join(here, "..", "test-results"), { recursive: true });
  await page.screenshot({ path: join(here, "..", "test-results", "prompts.png"), fullPage: true });
  assert.deepEqual(errors, []);
});

test("a duplicated prompt keeps its versions under new ids and its own fields can be edited", async () => {
  const { page } = await openScreen("Prompts");
  await createPrompt(page, "Summary", "Research");
  await saveDraft(page, "Summarise {{text}}.");
  await page.locator("ol.version-list li[data-version]").first().getByRole("button", { name: "Publish" }).click();
  await page.getByRole("alert").filter({ hasText: "Published v1." }).waitFor();
  await page.getByRole("button", { name: "Duplicate" }).click();
  await items(page, "Prompts").filter({ hasText: "Summary (copy)" }).waitFor();
  const [original, copy] = await page.evaluate(() => [...window.__shellDouble.prompts.values()]);
  assert.equal(copy.versions.length, 1);
  assert.notEqual(copy.versions[0].id, original.versions[0].id);
  assert.equal(copy.versions[0].content, "Summarise {{text}}.");
  assert.equal(copy.versions[0].status, "active");

  await page.getByLabel("Title").fill("Short summary");
  await page.getByRole("button", { name: "Save prompt" }).click();
  await items(page, "Prompts").filter({ hasText: "Short summary" }).waitFor();
  const saved = (await calls(page, "save_prompt")).at(-1).args.prompt;
  assert.deepEqual(Object.keys(saved).sort(), ["description", "id", "project", "segment", "tags", "title"]);
  assert.deepEqual(saved.tags, ["support", "email"]);
  // Its versions are untouched by saving its own fields.
  assert.equal(await page.locator("ol.version-list li[data-version]").count(), 1);
});

test("an empty or oversized version is refused before it is sent", async () => {
  const { page } = await openScreen("Prompts");
  await createPrompt(page, "Edge cases", "QA");
  await page.getByLabel("New version").fill("   ");
  await page.getByRole("button", { name: "Save as draft" }).click();
  await page.getByRole("alert").filter({ hasText: "Write the version's text first." }).waitFor();
  await page.getByLabel("New version").fill("x".repeat(100_001));
  await page.getByRole("button", { name: "Save as draft" }).click();
  await page.getByRole("alert").filter({ hasText: "at most 100,000 characters" }).waitFor();
  assert.equal((await calls(page, "add_prompt_version")).length, 0);
});

test("deleting asks once more, then the item leaves the list", async () => {
  const { page } = await openScreen("Agents");
  await page.getByRole("button", { name: "New agent" }).click();
  await page.getByLabel("Name").fill("Short-lived");
  await page.getByRole("button", { name: "Create agent" }).click();
  await items(page, "Agents").filter({ hasText: "Short-lived" }).waitFor();
  await page.getByRole("button", { name: "Delete", exact: true }).click();
  // The first click only asks.
  await page.getByRole("button", { name: "Delete this agent everywhere?" }).waitFor();
  assert.equal((await calls(page, "delete_library_item")).length, 0);
  await page.getByRole("button", { name: "Delete this agent everywhere?" }).click();
  await page.getByRole("alert").filter({ hasText: "Deleted “Short-lived”." }).waitFor();
  const [deleted] = await calls(page, "delete_library_item");
  assert.equal(deleted.args.kind, "agent");
  await page.getByText("No agents yet").waitFor();
  assert.equal(await page.evaluate(() => window.__shellDouble.agents.size), 0);
});
