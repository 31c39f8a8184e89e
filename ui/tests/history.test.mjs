// A graph's history from its card, in headless Chromium against the shell's
// IPC contract: saving a version, comparing one with now, restoring it and
// undoing the restore; a viewer's team shows the history read-only.
import { test } from "node:test";
import assert from "node:assert/strict";
import { openPage } from "./harness.mjs";

const calls = (page, command) => page.evaluate((name) => window.__shellDouble.calls.filter((call) => call.command === name), command);

const HISTORY = {
  Pipeline: [
    { name: "Edits from elsewhere arrived", at: "2026-12-06T15:00:00.000Z", named: false },
    {
      name: "Before the review",
      at: "2026-12-05T09:00:00.000Z",
      by: "Ana",
      diff: { added_nodes: ["n-4"], removed_nodes: ["n-1"], moved_nodes: ["n-2"], relabelled_nodes: ["n-3"], added_edges: ["e-1"], removed_edges: ["e-2", "e-3"], renamed: ["Draft", "Pipeline"] },
      labels: { "n-1": "Planner", "n-2": "Writer", "n-3": "Reviewer", "n-4": "Editor" },
    },
  ],
};

test("a version is saved, compared with now, restored and the restore undone", async () => {
  const { page, errors } = await openPage({ graphs: [{ name: "Pipeline", node_count: 8, edge_count: 7 }], history: HISTORY });
  await page.getByRole("button", { name: "History of Pipeline" }).click();
  const panel = page.getByRole("region", { name: "History of Pipeline" });
  const versions = panel.getByRole("list", { name: "Versions" });
  // The history loads after the panel opens: wait for its last entry before counting.
  await versions.getByText("Before the review").waitFor();
  assert.equal(await versions.getByRole("listitem").count(), 2);

  const save = panel.getByRole("form", { name: "Save a version" });
  await save.getByRole("button", { name: "Save version" }).click();
  await page.getByRole("alert").filter({ hasText: "Name the version" }).waitFor();
  await save.getByLabel("Version name").fill("Before launch");
  await save.getByRole("button", { name: "Save version" }).click();
  await versions.getByText("Before launch").waitFor();
  assert.equal(await versions.getByRole("listitem").count(), 3);
  assert.match(await versions.getByRole("listitem").first().textContent(), /Before launch.*Ada/);

  const review = versions.getByRole("listitem").filter({ hasText: "Before the review" });
  await review.getByRole("button", { name: "Compare with now" }).click();
  const changes = panel.getByRole("region", { name: "Changes since then" });
  await changes.getByText("Since “Before the review”").waitFor();
  const text = await changes.textContent();
  for (const expected of ["Renamed", "“Draft” → “Pipeline”", "AddedEditor", "RemovedPlanner", "MovedWriter", "RelabelledReviewer", "Connections1 added, 2 removed"]) {
    assert.ok(text.includes(expected), `${expected} in ${text}`);
  }

  // The comparison shows on the canvas too, and any version opens there read-only.
  await changes.getByRole("button", { name: "Show on the canvas" }).click();
  await page.waitForFunction(() => window.__shellDouble.calls.some((call) => call.command === "show_graph_version"));
  await review.getByRole("button", { name: "Open “Before the review” on the canvas" }).click();
  await page.waitForFunction(() => window.__shellDouble.calls.filter((call) => call.command === "show_graph_version").length === 2);
  const shown = await calls(page, "show_graph_version");
  assert.deepEqual(
    shown.map((call) => call.args.compare),
    [true, false],
  );
  assert.equal(new Set(shown.map((call) => call.args.version)).size, 1, "both of the version compared");
  assert.deepEqual(shown.map((call) => call.args.later), [null, null]);

  // Two versions compared: the later one is picked beside the changes.
  await changes.getByLabel("Compared with").selectOption({ label: "Edits from elsewhere arrived" });
  await changes.getByText("From “Before the review” to “Edits from elsewhere arrived”").waitFor();
  const [, withPoint] = await calls(page, "graph_diff");
  assert.equal(typeof withPoint.args.to, "string");
  await changes.getByRole("button", { name: "Show on the canvas" }).click();
  await page.waitForFunction(() => window.__shellDouble.calls.filter((call) => call.command === "show_graph_version").length === 3);
  assert.equal((await calls(page, "show_graph_version"))[2].args.later, withPoint.args.to);
  await changes.getByLabel("Compared with").selectOption({ label: "Now" });
  await changes.getByText("Since “Before the review”").waitFor();

  await review.getByRole("button", { name: "Restore" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Restore" }).click();
  await page.getByText("“Pipeline” is back to “Before the review”.").waitFor();
  const [restore] = await calls(page, "restore_graph_version");
  assert.equal(restore.args.graph.length, 36);
  await page.getByRole("button", { name: "Undo restore" }).click();
  await page.getByText("The restore was undone.").waitFor();
  assert.equal((await calls(page, "undo_restore")).length, 1);
  assert.deepEqual(errors, []);
});

test("the versions of the prompts the graph uses are listed beside its own", async () => {
  const { page } = await openPage({
    graphs: [{ name: "Pipeline", node_count: 8, edge_count: 7 }],
    history: HISTORY,
    promptHistory: {
      Pipeline: [
        {
          id: "p-1",
          title: "Triage instructions",
          versions: [
            { number: 2, status: "active", created_at: "2026-12-04T10:00:00.000Z", activated_at: "2026-12-04T11:00:00.000Z" },
            { number: 1, status: "archived", created_at: "2026-11-30T10:00:00.000Z", activated_at: "2026-11-30T10:05:00.000Z" },
          ],
        },
      ],
    },
  });
  await page.getByRole("button", { name: "History of Pipeline" }).click();
  const prompts = page.getByRole("region", { name: "Prompts this graph uses" });
  await prompts.getByText("Triage instructions").waitFor();
  assert.match(await prompts.locator("summary").textContent(), /2 versions · version 2 in use/);
  await prompts.locator("summary").click();
  const versions = prompts.getByRole("list", { name: "Versions of Triage instructions" });
  assert.deepEqual(
    (await versions.getByRole("listitem").allTextContents()).map((text) => text.split(" · ").slice(0, 2).join(" · ")),
    ["Version 2 · in use", "Version 1 · archived"],
  );
});

test("in a viewer's team the history opens and compares, and offers no saving or restoring", async () => {
  const { page } = await openPage({
    teams: [{ name: "Support crew", role: "viewer", graphs: [{ name: "Pipeline", node_count: 8, edge_count: 7 }] }],
    history: HISTORY,
  });
  await page.getByLabel("Workspace").selectOption({ label: "Support crew" });
  await page.getByRole("button", { name: "History of Pipeline" }).click();
  const panel = page.getByRole("region", { name: "History of Pipeline" });
  await panel.getByRole("list", { name: "Versions" }).waitFor();
  assert.equal(await panel.getByRole("form", { name: "Save a version" }).count(), 0);
  assert.equal(await panel.getByRole("button", { name: "Restore" }).count(), 0);
  await panel.getByRole("button", { name: "Compare with now" }).first().click();
  await panel.getByRole("region", { name: "Changes since then" }).getByText("Nothing changed.").waitFor();
});
