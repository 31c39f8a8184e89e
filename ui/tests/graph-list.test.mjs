// The graph library screen in headless Chromium, against the shell's IPC contract.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { here, openPage } from "./harness.mjs";

async function openScreen() {
  const { page, errors } = await openPage();
  await page.getByText("Start from a template").waitFor();
  return { page, errors };
}

const rows = (page) => page.getByRole("list", { name: "Graphs" }).getByRole("listitem");

test("creating a graph lists it with its counts", async () => {
  const { page, errors } = await openScreen();
  await page.getByLabel("New graph name").fill("  Research team  ");
  await page.getByRole("button", { name: "Create graph" }).click();
  await assert.doesNotReject(rows(page).filter({ hasText: "Research team" }).waitFor());
  assert.equal(await rows(page).count(), 1);
  assert.match(await rows(page).first().textContent(), /0 nodes · 0 edges/);
  assert.equal(await page.getByText("Start from a template").isVisible(), false);
  assert.equal(await page.getByLabel("New graph name").inputValue(), "");
  const created = await page.evaluate(() => window.__shellDouble.calls.find((call) => call.command === "create_graph"));
  assert.deepEqual(created.args, { name: "Research team" });
  await mkdir(join(here, "..", "test-results"), { recursive: true });
  await page.screenshot({ path: join(here, "..", "test-results", "graph-list.png") });
  assert.deepEqual(errors, []);
});

test("a blank or oversized name is refused with a reason and nothing is created", async () => {
  const { page } = await openScreen();
  await page.getByLabel("New graph name").fill("    ");
  await page.getByRole("button", { name: "Create graph" }).click();
  await assert.doesNotReject(page.getByRole("alert").filter({ hasText: "Give the graph a name." }).waitFor());
  await page.getByLabel("New graph name").fill("x".repeat(121));
  await page.getByRole("button", { name: "Create graph" }).click();
  await assert.doesNotReject(page.getByRole("alert").filter({ hasText: "at most 120 characters" }).waitFor());
  assert.equal(await rows(page).count(), 0);
  const creates = await page.evaluate(() => window.__shellDouble.calls.filter((call) => call.command === "create_graph").length);
  assert.equal(creates, 0);
});

test("an error from the shell is shown to the user", async () => {
  const { page } = await openScreen();
  // Control characters pass the screen's own check; the shell refuses them.
  await page.evaluate(() => {
    const original = window.__TAURI_INTERNALS__.invoke;
    window.__TAURI_INTERNALS__.invoke = (command, args) =>
      command === "create_graph"
        ? Promise.reject({ code: "invalid_input", message: "graph name must not contain control characters" })
        : original(command, args);
  });
  await page.getByLabel("New graph name").fill("tab\there");
  await page.getByRole("button", { name: "Create graph" }).click();
  await assert.doesNotReject(page.getByRole("alert").filter({ hasText: "must not contain control characters" }).waitFor());
});

test("renaming updates the row and Escape cancels", async () => {
  const { page } = await openScreen();
  await page.getByLabel("New graph name").fill("Draft");
  await page.getByRole("button", { name: "Create graph" }).click();
  await rows(page).filter({ hasText: "Draft" }).waitFor();
  await page.getByRole("button", { name: "Rename" }).click();
  await page.getByLabel("Graph name", { exact: true }).fill("Final plan");
  await page.getByRole("button", { name: "Save" }).click();
  await rows(page).filter({ hasText: "Final plan" }).waitFor();
  assert.equal(await rows(page).filter({ hasText: "Draft" }).count(), 0);
  await page.getByRole("button", { name: "Rename" }).click();
  await page.getByLabel("Graph name", { exact: true }).fill("Thrown away");
  await page.getByLabel("Graph name", { exact: true }).press("Escape");
  await rows(page).filter({ hasText: "Final plan" }).waitFor();
  assert.equal(await page.getByText("Thrown away").count(), 0);
});

test("open sends the graph to the canvas", async () => {
  const { page } = await openScreen();
  await page.getByLabel("New graph name").fill("Canvas me");
  await page.getByRole("button", { name: "Create graph" }).click();
  await page.getByRole("button", { name: "Open in canvas" }).click();
  const opened = await page.waitForFunction(() =>
    window.__shellDouble.calls.find((call) => call.command === "open_graph"),
  );
  const call = await opened.jsonValue();
  const id = await rows(page).first().getAttribute("data-graph-id");
  assert.deepEqual(call.args, { id });
});

test("the sync state follows the shell's events", async () => {
  const { page } = await openScreen();
  const pill = page.getByTestId("sync-status");
  await assert.doesNotReject(pill.filter({ hasText: "Synced" }).waitFor());
  await page.evaluate(() =>
    window.__shellDouble.emit("sync-status", { state: "pending", pending_changes: 3, message: null }),
  );
  await pill.filter({ hasText: "3 changes pending" }).waitFor();
  await page.evaluate(() =>
    window.__shellDouble.emit("sync-status", { state: "offline", pending_changes: 3, message: "connection refused" }),
  );
  await pill.filter({ hasText: "Offline" }).waitFor();
  assert.equal(await pill.getAttribute("data-state"), "offline");
  assert.equal(await pill.getAttribute("title"), "connection refused");
});

test("offline_pill_counts_pending_changes", async () => {
  const { page } = await openScreen();
  const pill = page.getByTestId("sync-status");
  await page.evaluate(() =>
    window.__shellDouble.emit("sync-status", { state: "offline", pending_changes: 3, message: "connection refused" }),
  );
  await assert.doesNotReject(pill.filter({ hasText: "Offline — 3 changes wait to sync" }).waitFor());
  await page.evaluate(() =>
    window.__shellDouble.emit("sync-status", { state: "offline", pending_changes: 1, message: "connection refused" }),
  );
  await assert.doesNotReject(pill.filter({ hasText: "Offline — 1 change waits to sync" }).waitFor());
  await page.evaluate(() =>
    window.__shellDouble.emit("sync-status", { state: "offline", pending_changes: 0, message: "connection refused" }),
  );
  await assert.doesNotReject(pill.filter({ hasText: "edits are kept and sync later" }).waitFor());
});

test("card_sync_state_matches_pill", async () => {
  const { page } = await openScreen();
  await page.getByLabel("New graph name").fill("Support triage");
  await page.getByRole("button", { name: "Create graph" }).click();
  const card = rows(page).filter({ hasText: "Support triage" });
  await card.waitFor();
  // The new graph awaits the server, and the pill says so.
  await page.evaluate(() =>
    window.__shellDouble.emit("sync-status", { state: "pending", pending_changes: 1, message: null }),
  );
  await assert.doesNotReject(card.getByTestId("card-sync").filter({ hasText: "1 change not yet synced" }).waitFor());
  // The shell syncs it: the store has nothing pending, then the pill turns
  // green. The card follows without changing tabs.
  await page.evaluate(() => {
    for (const graph of window.__shellDouble.graphs) graph.pending_changes = 0;
    window.__shellDouble.emit("sync-status", { state: "synced", pending_changes: 0, message: null });
  });
  await page.getByTestId("sync-status").filter({ hasText: "Synced" }).waitFor();
  await assert.doesNotReject(card.getByTestId("card-sync").waitFor({ state: "detached" }));
  // Offline edits: the card and the pill count the same change.
  await page.evaluate(() => {
    window.__shellDouble.graphs[0].pending_changes = 2;
    window.__shellDouble.emit("sync-status", { state: "offline", pending_changes: 2, message: "connection refused" });
  });
  await assert.doesNotReject(card.getByTestId("card-sync").filter({ hasText: "2 changes not yet synced" }).waitFor());
  await assert.doesNotReject(page.getByTestId("sync-status").filter({ hasText: "2 changes wait to sync" }).waitFor());
});

test("an empty library offers templates, and one click adds a team", async () => {
  const { page, errors } = await openScreen();
  const gallery = page.getByRole("list", { name: "Templates" });
  await gallery.getByRole("listitem").first().waitFor();
  assert.equal(await gallery.getByRole("listitem").count(), 4);
  // Each card draws its graph and names its agents.
  const triage = gallery.getByRole("listitem").filter({ hasText: "Support triage" });
  assert.match(await triage.textContent(), /Triage agent · Reply writer/);
  assert.equal(await triage.getByRole("img", { name: /Customer message → Triage ticket/ }).count(), 1);
  await triage.getByRole("button", { name: "Use template: Support triage" }).click();
  await rows(page).filter({ hasText: "Support triage" }).waitFor();
  assert.match(await rows(page).first().textContent(), /5 nodes · 4 edges/);
  const added = await page.evaluate(() => window.__shellDouble.calls.find((call) => call.command === "add_template"));
  assert.deepEqual(added.args, { key: "support-triage" });
  // The toast offers to open it.
  const toastItem = page.getByRole("status").filter({ hasText: "Added “Support triage”" });
  await toastItem.getByRole("button", { name: "Open in canvas" }).click();
  await page.waitForFunction(() => window.__shellDouble.calls.some((call) => call.command === "open_graph"));
  // With graphs in the library, the templates fold away under the form.
  assert.equal(await page.getByRole("heading", { name: "Start from a template" }).isVisible(), false);
  await page.getByText("New from a template").click();
  await page.getByRole("button", { name: "Use template: Research team" }).click();
  await rows(page).filter({ hasText: "Research team" }).waitFor();
  assert.equal(await rows(page).count(), 2);
  assert.deepEqual(errors, []);
});

test("importing a graph file lists it; a refused file shows why and changes nothing", async () => {
  const { page, errors } = await openScreen();
  // Cancelled dialog: nothing happens.
  await page.getByRole("button", { name: "Import graph…" }).click();
  await page.waitForFunction(() => window.__shellDouble.calls.some((call) => call.command === "import_graph"));
  assert.equal(await rows(page).count(), 0);
  assert.equal(await page.getByRole("alert").isVisible(), false);
  // A refused file: its reason is shown and the library is unchanged.
  await page.evaluate(() => {
    window.__shellDouble.dialog.open = {
      error: { code: "invalid_input", message: "/home/ada/bad.json was not imported: edge 7 refers to node 9, which is not in the graph" },
    };
  });
  await page.getByRole("button", { name: "Import graph…" }).click();
  await assert.doesNotReject(page.getByRole("alert").filter({ hasText: "which is not in the graph" }).waitFor());
  assert.equal(await rows(page).count(), 0);
  // A valid file becomes a new graph.
  await page.evaluate(() => {
    window.__shellDouble.dialog.open = { name: "Imported team", node_count: 12, edge_count: 11 };
  });
  await page.getByRole("button", { name: "Import graph…" }).click();
  await assert.doesNotReject(rows(page).filter({ hasText: "Imported team" }).waitFor());
  assert.match(await rows(page).first().textContent(), /12 nodes · 11 edges/);
  await assert.doesNotReject(page.getByRole("alert").filter({ hasText: "Imported “Imported team”" }).waitFor());
  assert.deepEqual(errors, []);
});

test("exporting a graph says where it was saved", async () => {
  const { page } = await openScreen();
  await page.getByRole("button", { name: "Use template: Research team" }).click();
  await rows(page).first().waitFor();
  await page.evaluate(() => {
    window.__shellDouble.dialog.save = "/home/ada/Sample.json";
  });
  await page.getByRole("button", { name: /^Export Research team/ }).click();
  await assert.doesNotReject(page.getByRole("alert").filter({ hasText: "to /home/ada/Sample.json" }).waitFor());
  const call = await page.evaluate(() => window.__shellDouble.calls.find((c) => c.command === "export_graph"));
  const listed = await page.evaluate(() => window.__shellDouble.graphs[0].id);
  assert.deepEqual(call.args, { id: listed });
});

test("a graph is saved as a custom agent, and a taken name is refused", async () => {
  const { page, errors } = await openScreen();
  await page.getByLabel("New graph name").fill("Research desk");
  await page.getByRole("button", { name: "Create graph" }).click();
  await rows(page).filter({ hasText: "Research desk" }).waitFor();
  await page.getByRole("button", { name: "Save as agent: Research desk" }).click();
  assert.equal(await page.getByLabel("Agent name").inputValue(), "Research desk", "the graph's name is offered");
  await page.getByLabel("Agent name").fill("Desk team");
  await page.getByRole("button", { name: "Save as agent", exact: true }).click();
  await page
    .getByRole("alert")
    .filter({ hasText: "Saved as the agent “Desk team”. Put an agent node named Desk team in any graph to use it." })
    .waitFor();
  const [graph] = await page.evaluate(() => window.__shellDouble.graphs);
  const agents = await page.evaluate(() => [...window.__shellDouble.agents.values()]);
  assert.equal(agents.length, 1);
  assert.equal(agents[0].name, "Desk team");
  assert.equal(agents[0].graph, graph.id);
  const [call] = await page.evaluate(() => window.__shellDouble.calls.filter((c) => c.command === "save_graph_as_agent"));
  assert.deepEqual(call.args, { graph: graph.id, name: "Desk team", description: "Runs the graph “Research desk”." });

  // The same name again: the shell's refusal is shown and nothing more is saved.
  await page.getByRole("button", { name: "Save as agent: Research desk" }).click();
  await page.getByLabel("Agent name").fill("desk TEAM");
  await page.getByRole("button", { name: "Save as agent", exact: true }).click();
  await page.getByRole("alert").filter({ hasText: "an agent named “desk TEAM” exists already: choose another name" }).waitFor();
  assert.equal(await page.evaluate(() => window.__shellDouble.agents.size), 1);
  assert.deepEqual(errors, []);
});

test("graphs can be searched and sorted", async () => {
  const { page } = await openScreen();
  await page.evaluate(() => {
    const at = (day) => `2026-12-0${day}T10:00:00.000Z`;
    const graph = (name, nodes, day) => ({
      id: crypto.randomUUID(), name, node_count: nodes, edge_count: 0, pending_changes: 0, synced_once: true, updated_at: at(day),
    });
    window.__shellDouble.graphs.push(graph("Support triage", 12, 3), graph("Research team", 40, 1), graph("Résumé parser", 7, 2));
  });
  await page.getByLabel("New graph name").fill("Code review");
  await page.getByRole("button", { name: "Create graph" }).click();
  await rows(page).filter({ hasText: "Code review" }).waitFor();
  const names = () => rows(page).locator(".name").allTextContents();
  assert.deepEqual(await names(), ["Code review", "Support triage", "Résumé parser", "Research team"]);
  await page.getByLabel("Sort graphs").selectOption("name");
  assert.deepEqual(await names(), ["Code review", "Research team", "Résumé parser", "Support triage"]);
  await page.getByLabel("Sort graphs").selectOption("size");
  assert.deepEqual(await names(), ["Research team", "Support triage", "Résumé parser", "Code review"]);
  // Any case, with or without accents.
  await page.getByLabel("Search graphs").fill("RESUME");
  assert.deepEqual(await names(), ["Résumé parser"]);
  await page.getByLabel("Search graphs").fill("nothing like this");
  assert.deepEqual(await names(), []);
  await assert.doesNotReject(page.getByTestId("no-match").waitFor());
});

test("deleting a graph asks first, and Undo brings it back", async () => {
  const { page, errors } = await openScreen();
  for (const name of ["Keep me", "Support triage"]) {
    await page.getByLabel("New graph name").fill(name);
    await page.getByRole("button", { name: "Create graph" }).click();
    await rows(page).filter({ hasText: name }).waitFor();
  }
  // Cancelling the dialog deletes nothing.
  await page.getByRole("button", { name: "Delete Support triage" }).click();
  const dialog = page.getByRole("dialog", { name: "Delete “Support triage”?" });
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /restore it from Recently deleted for 30 days/);
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "detached" });
  assert.equal(await rows(page).count(), 2);
  let deletes = await page.evaluate(() => window.__shellDouble.calls.filter((call) => call.command === "delete_graph").length);
  assert.equal(deletes, 0);

  await page.getByRole("button", { name: "Delete Support triage" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete graph" }).click();
  await rows(page).filter({ hasText: "Support triage" }).waitFor({ state: "detached" });
  assert.equal(await rows(page).count(), 1);
  deletes = await page.evaluate(() => window.__shellDouble.calls.filter((call) => call.command === "delete_graph").length);
  assert.equal(deletes, 1);
  const toastItem = page.getByRole("status").filter({ hasText: "Deleted “Support triage”." });
  await toastItem.waitFor();
  await toastItem.getByRole("button", { name: "Undo" }).click();
  await rows(page).filter({ hasText: "Support triage" }).waitFor();
  assert.equal(await rows(page).count(), 2);
  const restored = await page.evaluate(() => window.__shellDouble.calls.filter((call) => call.command === "restore_graph").length);
  assert.equal(restored, 1);
  assert.equal(await page.getByTestId("deleted-graphs").isVisible(), false);
  assert.deepEqual(errors, []);
});

test("a deleted graph waits in Recently deleted and can be restored", async () => {
  const { page, errors } = await openScreen();
  await page.getByLabel("New graph name").fill("Old pipeline");
  await page.getByRole("button", { name: "Create graph" }).click();
  await rows(page).filter({ hasText: "Old pipeline" }).waitFor();
  await page.getByRole("button", { name: "Delete Old pipeline" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete graph" }).click();
  const trash = page.getByTestId("deleted-graphs");
  await trash.waitFor();
  assert.match(await trash.textContent(), /Recently deleted \(1\)/);
  await trash.locator("summary").click();
  const deletedRow = page.getByRole("list", { name: "Recently deleted" }).getByRole("listitem");
  assert.match(await deletedRow.textContent(), /restorable for 30 more days/);
  await page.getByRole("button", { name: "Restore Old pipeline" }).click();
  await rows(page).filter({ hasText: "Old pipeline" }).waitFor();
  await trash.waitFor({ state: "hidden" });
  assert.deepEqual(errors, []);
});

test("duplicating a graph lists the copy beside it", async () => {
  const { page, errors } = await openScreen();
  await page.getByLabel("New graph name").fill("Research team");
  await page.getByRole("button", { name: "Create graph" }).click();
  await rows(page).filter({ hasText: "Research team" }).waitFor();
  await page.getByRole("button", { name: "Duplicate Research team" }).click();
  await rows(page).filter({ hasText: "Research team (copy)" }).waitFor();
  assert.equal(await rows(page).count(), 2);
  await page.getByRole("status").filter({ hasText: "Made “Research team (copy)”." }).waitFor();
  assert.deepEqual(errors, []);
});

test("the first start shows a welcome once, and its choices lead somewhere", async () => {
  const { page, errors } = await openPage({ firstRun: true });
  const welcome = page.getByRole("dialog", { name: "Welcome to Orrery" });
  await welcome.waitFor();
  const text = await welcome.textContent();
  assert.match(text, /This window is your library/);
  assert.match(text, /The canvas opens with a graph/);
  assert.match(text, /Ollama runs models on this computer/);
  // The way forward has focus.
  assert.equal(await welcome.getByRole("button", { name: "Start from a template" }).evaluate((button) => button === document.activeElement), true);
  await welcome.getByRole("button", { name: "Connect a model provider" }).click();
  await welcome.waitFor({ state: "detached" });
  // It went to Providers, and it was recorded as seen.
  assert.equal(await page.getByRole("button", { name: "Providers" }).getAttribute("aria-current"), "true");
  assert.equal(await page.evaluate(() => window.__shellDouble.welcome.dismissals), 1);
  // (That it stays dismissed across starts is the shell's to keep: see
  // src-tauri/tests/shell.rs.) Escape closes it too, and counts as seen.
  const again = await openPage({ firstRun: true });
  await again.page.getByRole("dialog", { name: "Welcome to Orrery" }).waitFor();
  await again.page.keyboard.press("Escape");
  await again.page.getByRole("dialog").waitFor({ state: "detached" });
  assert.equal(await again.page.evaluate(() => window.__shellDouble.welcome.dismissals), 1);
  assert.deepEqual(errors, []);
});

/** A library whose three orders all differ from each other and from the order the shell lists it in. */
const LIBRARY = [
  { name: "Support triage", node_count: 12, updated_at: "2026-12-03T10:00:00.000Z" },
  { name: "research team", node_count: 40, updated_at: "2026-12-01T10:00:00.000Z" },
  { name: "Code review crew", node_count: 7, updated_at: "2026-12-04T10:00:00.000Z" },
  { name: "Document extraction", node_count: 25, updated_at: "2026-12-02T10:00:00.000Z" },
];
const LAST_EDITED = ["Code review crew", "Support triage", "Document extraction", "research team"];
const NAME_A_Z = ["Code review crew", "Document extraction", "research team", "Support triage"];
const MOST_NODES = ["research team", "Document extraction", "Support triage", "Code review crew"];

async function openLibrary(page) {
  await rows(page).first().waitFor();
  return () => rows(page).locator(".name").allTextContents();
}

test("search_filters_graphs_by_name_as_you_type", async () => {
  const { page, errors } = await openPage({ graphs: LIBRARY });
  const names = await openLibrary(page);
  const search = page.getByRole("searchbox", { name: "Search graphs" });
  assert.deepEqual(await names(), LAST_EDITED);
  // Any case, narrowing with each key.
  await search.pressSequentially("RE");
  assert.deepEqual(await names(), ["Code review crew", "research team"]);
  await page.getByRole("status").filter({ hasText: "2 of 4 graphs match" }).waitFor({ state: "attached" });
  await search.pressSequentially("S");
  assert.deepEqual(await names(), ["research team"]);
  // Escape empties the box and every graph is back.
  await search.press("Escape");
  assert.equal(await search.inputValue(), "");
  assert.deepEqual(await names(), LAST_EDITED);
  // The search keeps the chosen order.
  await page.getByRole("combobox", { name: "Sort graphs" }).selectOption({ label: "Most nodes" });
  await search.fill("re");
  assert.deepEqual(await names(), ["research team", "Code review crew"]);
  // Nothing found: said with the words searched for, and a way back.
  await search.fill("  Zebra ");
  assert.equal(await rows(page).count(), 0);
  const none = page.getByTestId("no-match");
  assert.equal(await none.locator("p").textContent(), "No graphs match “Zebra”");
  await none.getByRole("button", { name: "Clear search" }).click();
  assert.equal(await search.inputValue(), "");
  assert.deepEqual(await names(), MOST_NODES);
  assert.equal(await search.evaluate((input) => input === document.activeElement), true, "focus is back in the search box");
  assert.equal(await none.count(), 0);
  assert.deepEqual(errors, []);
});

test("sort_is_remembered_for_the_session", async () => {
  const { page, errors } = await openPage({ graphs: LIBRARY });
  const names = await openLibrary(page);
  const sort = page.getByRole("combobox", { name: "Sort graphs" });
  // Last edited first, unless chosen otherwise.
  assert.deepEqual(await sort.locator("option").allTextContents(), ["Last edited", "Name A–Z", "Most nodes"]);
  assert.equal(await sort.evaluate((select) => select.selectedOptions[0].textContent), "Last edited");
  assert.deepEqual(await names(), LAST_EDITED);
  // From the keyboard: the next choice is Name A–Z (any case).
  await sort.focus();
  await page.keyboard.press("ArrowDown");
  assert.equal(await sort.inputValue(), "name");
  assert.deepEqual(await names(), NAME_A_Z);
  await sort.selectOption({ label: "Most nodes" });
  assert.deepEqual(await names(), MOST_NODES);
  // Another screen and back, then a reload: still Most nodes.
  await page.getByRole("button", { name: "Agents", exact: true }).click();
  await page.getByRole("heading", { name: "Agents" }).waitFor();
  await page.getByRole("button", { name: "Graphs", exact: true }).click();
  await openLibrary(page);
  assert.equal(await sort.inputValue(), "size");
  assert.deepEqual(await names(), MOST_NODES);
  await page.reload();
  await openLibrary(page);
  assert.equal(await sort.inputValue(), "size");
  assert.deepEqual(await names(), MOST_NODES);
  // A new session starts from Last edited.
  const fresh = await openPage({ graphs: LIBRARY });
  const freshNames = await openLibrary(fresh.page);
  assert.equal(await fresh.page.getByRole("combobox", { name: "Sort graphs" }).inputValue(), "recent");
  assert.deepEqual(await freshNames(), LAST_EDITED);
  assert.deepEqual(errors, []);
});
