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
    graph: null,
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
  assert.deepEqual(Object.keys(saved).sort(), ["description", "id", "project", "segment", "tags", "title", "validators"]);
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

test("checks on a prompt run on every save: a failing version shows why and is not published", async () => {
  const { page, errors } = await openScreen("Prompts");
  await createPrompt(page, "Greeting", "Support");
  // The prompt text at most 30 characters; every answer contains "Sources:".
  await page.getByRole("button", { name: "Add check" }).click();
  await page.getByLabel("Check 1 kind").selectOption("length");
  await page.getByLabel("Check 1 applies to").selectOption("content");
  await page.getByLabel("Check 1 maximum").fill("30");
  await page.getByRole("button", { name: "Add check" }).click();
  await page.getByLabel("Check 2 text").fill("Sources:");
  await page.getByRole("button", { name: "Save prompt" }).click();
  await page.getByRole("alert").filter({ hasText: "Saved." }).waitFor();
  const sent = (await calls(page, "save_prompt")).at(-1).args.prompt.validators;
  assert.deepEqual(sent, [
    { target: "content", kind: "length", min: null, max: 30 },
    { target: "output", kind: "contains", text: "Sources:", ignore_case: false },
  ]);
  assert.deepEqual(await page.evaluate(() => [...window.__shellDouble.prompts.values()][0].validators), sent);
  assert.equal(await page.getByLabel("Check 1 maximum").inputValue(), "30", "the saved checks are shown again");

  // A version too long for its check: saved as a draft, shown failing, not published.
  await saveDraft(page, "Hello there, dear customer, welcome aboard!");
  const versions = page.locator("ol.version-list li[data-version]");
  const failures = versions.nth(0).getByTestId("version-failures");
  await failures.waitFor();
  assert.equal(await failures.locator("strong").textContent(), "Fails 1 check");
  assert.deepEqual(await failures.locator("li").allTextContents(), [
    "length ≤ 30: the prompt text is 43 characters long; the maximum is 30",
  ]);
  await versions.nth(0).getByRole("button", { name: "Publish" }).click();
  await page
    .getByRole("alert")
    .filter({ hasText: "version 1 fails the prompt's checks and was not published: length ≤ 30 validator" })
    .waitFor();
  assert.equal(await versions.nth(0).getAttribute("data-status"), "draft");
  assert.equal(await page.evaluate(() => [...window.__shellDouble.prompts.values()][0].versions[0].status), "draft");

  // A shorter version passes and is published.
  await saveDraft(page, "Hello {{name}}!");
  await versions.nth(1).getByText("Passes its checks").waitFor();
  await mkdir(join(here, "..", "test-results"), { recursive: true });
  await page.screenshot({ path: join(here, "..", "test-results", "prompt-checks.png"), fullPage: true });
  await versions.nth(1).getByRole("button", { name: "Publish" }).click();
  await page.getByRole("alert").filter({ hasText: "Published v2." }).waitFor();
  assert.equal(await versions.nth(1).getAttribute("data-status"), "active");
  assert.equal(await versions.nth(0).getByTestId("version-failures").count(), 1, "the failing draft still says why");
  assert.deepEqual(errors, []);
});

test("checks that cannot be used are refused with the reason and nothing is lost", async () => {
  const { page } = await openScreen("Prompts");
  await createPrompt(page, "Edge checks", "QA");
  const saves = async () => (await calls(page, "save_prompt")).length;
  const before = await saves();
  const alert = page.getByRole("alert");
  await page.getByRole("button", { name: "Add check" }).click();
  await page.getByLabel("Check 1 kind").selectOption("length");
  await page.getByLabel("Check 1 minimum").fill("9");
  await page.getByLabel("Check 1 maximum").fill("3");
  await page.getByRole("button", { name: "Save prompt" }).click();
  await alert.filter({ hasText: "Check 1: the minimum (9) is larger than the maximum (3)." }).waitFor();
  await page.getByLabel("Check 1 minimum").fill("");
  await page.getByLabel("Check 1 maximum").fill("");
  await page.getByRole("button", { name: "Save prompt" }).click();
  await alert.filter({ hasText: "Check 1: give a minimum, a maximum or both." }).waitFor();
  await page.getByLabel("Check 1 kind").selectOption("json_schema");
  await page.getByLabel("Check 1 schema").fill("{not json");
  await page.getByRole("button", { name: "Save prompt" }).click();
  await alert.filter({ hasText: "Check 1: the schema is not JSON" }).waitFor();
  await page.getByLabel("Check 1 schema").fill("[1, 2]");
  await page.getByRole("button", { name: "Save prompt" }).click();
  await alert.filter({ hasText: "Check 1: a JSON schema is an object" }).waitFor();
  await page.getByLabel("Check 1 kind").selectOption("regex");
  await page.getByRole("button", { name: "Save prompt" }).click();
  await alert.filter({ hasText: "Check 1: the pattern is empty." }).waitFor();
  assert.equal(await saves(), before, "nothing was sent");

  // What only the shell can judge (a pattern that does not compile) is shown as it said it.
  await page.getByLabel("Check 1 pattern").fill("(unclosed");
  await page.getByRole("button", { name: "Save prompt" }).click();
  await alert.filter({ hasText: "validator 1: the regex validator is not valid" }).waitFor();
  assert.deepEqual(await page.evaluate(() => [...window.__shellDouble.prompts.values()][0].validators), []);
  assert.equal(await page.getByLabel("Check 1 pattern").inputValue(), "(unclosed", "the typed check stays in the form");

  // Removed, the prompt saves.
  await page.getByRole("button", { name: "Remove check 1" }).click();
  await page.getByRole("button", { name: "Save prompt" }).click();
  await alert.filter({ hasText: "Saved." }).waitFor();
  assert.deepEqual((await calls(page, "save_prompt")).at(-1).args.prompt.validators, []);
});

test("an agent that runs a graph is saved as a custom agent and marked in the list", async () => {
  const { page, errors } = await openPage();
  await page.getByLabel("New graph name").fill("Research desk");
  await page.getByRole("button", { name: "Create graph" }).click();
  await page.getByRole("list", { name: "Graphs" }).getByText("Research desk").waitFor();
  const graphId = await page.evaluate(() => window.__shellDouble.graphs[0].id);
  await page.getByRole("button", { name: "Agents", exact: true }).click();
  await page.getByRole("heading", { name: "Agents" }).waitFor();
  await page.getByRole("button", { name: "New agent" }).click();
  await page.getByLabel("Name").fill("Desk");
  await page.getByLabel("Runs graph").locator(`option[value="${graphId}"]`).waitFor({ state: "attached" });
  await page.getByLabel("Runs graph").selectOption({ label: "Research desk" });
  await page.getByRole("button", { name: "Create agent" }).click();
  await items(page, "Agents").filter({ hasText: "Custom agent · runs “Research desk”" }).waitFor();
  const [created] = await calls(page, "save_agent");
  assert.equal(created.args.agent.graph, graphId);
  assert.equal(await page.getByLabel("Runs graph").inputValue(), graphId, "the editor shows the graph it runs");

  // Back to a single agent.
  await page.getByLabel("Runs graph").selectOption("");
  await page.getByRole("button", { name: "Save agent" }).click();
  await items(page, "Agents").filter({ hasText: "No model chosen" }).waitFor();
  assert.equal((await calls(page, "save_agent")).at(-1).args.agent.graph, null);
  assert.deepEqual(errors, []);
});
