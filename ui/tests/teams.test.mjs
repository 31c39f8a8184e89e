// The Teams screen in headless Chromium, against the shell's IPC contract:
// creating a team, inviting by email, roles, removing, and joining with an
// invitation's link.
import { test } from "node:test";
import assert from "node:assert/strict";
import { openPage } from "./harness.mjs";

async function openScreen(setup = {}) {
  const { page, errors } = await openPage(setup);
  await page.getByRole("button", { name: "Teams", exact: true }).click();
  await page.getByRole("heading", { name: "Teams", level: 1 }).waitFor();
  return { page, errors };
}

const calls = (page, command) => page.evaluate((name) => window.__shellDouble.calls.filter((call) => call.command === name), command);

test("a new team is created, someone is invited, and the invitation is taken back", async () => {
  const { page, errors } = await openScreen();
  await page.getByTestId("no-teams").waitFor();
  const create = page.getByRole("form", { name: "New team" });
  await create.getByRole("button", { name: "Create team" }).click();
  await page.getByRole("alert").filter({ hasText: "Give the team a name." }).waitFor();
  await create.getByLabel("Team name").fill("Research");
  await create.getByRole("button", { name: "Create team" }).click();
  const panel = page.getByTestId("team-panel");
  await panel.getByRole("heading", { name: "Research" }).waitFor();
  await panel.getByText("You: Owner").waitFor();
  const members = panel.getByRole("table", { name: "Members" });
  assert.match(await members.getByRole("row").nth(1).textContent(), /ada@orrery\.test.*Owner/);

  const invite = panel.getByRole("form", { name: "Invite someone" });
  assert.deepEqual(await invite.getByLabel("Role").locator("option").allTextContents(), ["Owner", "Admin", "Editor", "Viewer"]);
  await invite.getByLabel("Email address").fill("not an address");
  await invite.getByRole("button", { name: "Send invitation" }).click();
  await page.getByRole("alert").filter({ hasText: "email must be an address like name@example.com" }).waitFor();
  await invite.getByLabel("Email address").fill("Grace@Harbour.example");
  await invite.getByLabel("Role").selectOption("editor");
  await invite.getByRole("button", { name: "Send invitation" }).click();
  const pending = panel.getByRole("list", { name: "Pending invitations" });
  await pending.getByText("grace@harbour.example").waitFor();
  const sent = (await calls(page, "invite_to_team")).at(-1);
  assert.equal(sent.args.role, "editor");
  assert.equal(sent.args.email, "Grace@Harbour.example");
  await pending.getByRole("button", { name: "Take back" }).click();
  await panel.getByText("No invitations waiting.").waitFor();
  assert.deepEqual(errors, []);
});

test("an invitation's link joins the team once; a used one is refused with the reason", async () => {
  const { page } = await openScreen({
    invitationCodes: { oin_7Qm2: { name: "Design studio", role: "viewer", members: [{ name: "Olga", email: "olga@studio.example", role: "owner" }] } },
  });
  const join = page.getByRole("form", { name: "Join a team" });
  await join.getByLabel("Invitation link or code").fill("orrery://invite/oin_7Qm2");
  await join.getByRole("button", { name: "Join" }).click();
  const panel = page.getByTestId("team-panel");
  await panel.getByRole("heading", { name: "Design studio" }).waitFor();
  await panel.getByText("You: Viewer").waitFor();
  // A viewer manages no one: no invitations, no role pickers, no Remove.
  assert.equal(await panel.getByRole("form", { name: "Invite someone" }).count(), 0);
  assert.equal(await panel.getByRole("combobox").count(), 0);
  assert.equal(await panel.getByRole("button", { name: "Remove" }).count(), 0);
  await panel.getByRole("button", { name: "Leave" }).waitFor();

  await join.getByLabel("Invitation link or code").fill("oin_7Qm2");
  await join.getByRole("button", { name: "Join" }).click();
  await page.getByRole("alert").filter({ hasText: "this invitation was already used" }).waitFor();
  await join.getByLabel("Invitation link or code").fill("hello");
  await join.getByRole("button", { name: "Join" }).click();
  await page.getByRole("alert").filter({ hasText: "that is not an invitation code" }).waitFor();
});

test("an admin changes an editor's role and removes a viewer after a confirmation, but cannot touch the owner", async () => {
  const { page } = await openScreen({
    teams: [
      {
        name: "Ops",
        role: "admin",
        members: [
          { name: "Olga", email: "olga@ops.example", role: "owner" },
          { name: "Ben", email: "ben@ops.example", role: "editor" },
          { name: "Vic", email: "vic@ops.example", role: "viewer" },
        ],
        invitations: [{ email: "dora@ops.example", role: "viewer" }],
      },
    ],
  });
  const panel = page.getByTestId("team-panel");
  await panel.getByText("You: Admin").waitFor();
  const row = (email) => panel.locator(`tr[data-member="${email}"]`);
  assert.equal(await row("olga@ops.example").getByRole("combobox").count(), 0, "an admin cannot change an owner");
  assert.equal(await row("olga@ops.example").getByRole("button", { name: "Remove" }).count(), 0);
  assert.deepEqual(await row("ben@ops.example").getByRole("combobox").locator("option").allTextContents(), ["Editor", "Viewer"]);
  assert.deepEqual(await panel.getByRole("form", { name: "Invite someone" }).getByLabel("Role").locator("option").allTextContents(), ["Editor", "Viewer"]);
  await row("ben@ops.example").getByRole("combobox").selectOption("viewer");
  await page.waitForFunction(() => window.__shellDouble.calls.filter((call) => call.command === "change_team_role").length === 1);
  const [changed] = await calls(page, "change_team_role");
  assert.equal(changed.args.role, "viewer");
  assert.equal(await row("ben@ops.example").getByRole("combobox").inputValue(), "viewer");

  await row("vic@ops.example").getByRole("button", { name: "Remove" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByText("Vic loses access at once").waitFor();
  await dialog.getByRole("button", { name: "Remove" }).click();
  await row("vic@ops.example").waitFor({ state: "detached" });
  assert.equal(await panel.getByRole("table", { name: "Members" }).getByRole("row").count(), 4);
});

test("the Graphs screen switches between the personal and a team's workspace, copies a graph to a team, and says when a team is read-only", async () => {
  const { page, errors } = await openPage({
    graphs: [{ name: "My plan", node_count: 4, edge_count: 3 }],
    teams: [
      { name: "Research", role: "editor", graphs: [{ name: "Team roadmap", node_count: 9, edge_count: 8 }] },
      { name: "Support crew", role: "viewer", graphs: [{ name: "Triage", node_count: 5, edge_count: 4 }] },
    ],
  });
  const names = () => page.locator("ul.graphs li .name").allTextContents();
  const picker = page.getByLabel("Workspace");
  await picker.waitFor();
  assert.deepEqual(await picker.locator("option").allTextContents(), ["Personal", "Research", "Support crew"]);
  assert.deepEqual(await names(), ["My plan"]);

  // Copy to a team the person edits in (not to one where they only view).
  await page.getByRole("button", { name: "Copy My plan to a team" }).click();
  const form = page.getByRole("form", { name: "Copy My plan to a team" });
  assert.deepEqual(await form.getByLabel("Team").locator("option").allTextContents(), ["Research"]);
  await form.getByRole("button", { name: "Copy" }).click();
  await page.getByText("“My plan” was copied to Research.").waitFor();
  assert.deepEqual(await names(), ["My plan"], "the personal graph stays");

  await picker.selectOption({ label: "Research" });
  await page.locator("ul.graphs li .name", { hasText: "Team roadmap" }).waitFor();
  assert.deepEqual((await names()).sort(), ["My plan", "Team roadmap"]);
  assert.equal(await page.getByTestId("read-only").count(), 0);
  assert.equal(await page.getByRole("button", { name: "Copy Team roadmap to a team" }).count(), 0, "copies start from the personal workspace");

  await picker.selectOption({ label: "Support crew" });
  await page.getByTestId("read-only").filter({ hasText: "You are a viewer in Support crew" }).waitFor();
  assert.deepEqual(await names(), ["Triage"]);
  // A viewer opens and exports; nothing offers a change.
  assert.equal(await page.getByRole("form", { name: "Create a graph" }).count(), 0);
  const card = page.locator("ul.graphs li", { hasText: "Triage" });
  assert.deepEqual(await card.getByRole("button").allTextContents(), ["Open in canvas", "History", "Export…"]);
  assert.deepEqual(await names(), ["Triage"]);

  await picker.selectOption({ label: "Personal" });
  await page.locator("ul.graphs li .name", { hasText: "My plan" }).waitFor();
  assert.deepEqual(await names(), ["My plan"]);
  assert.deepEqual(errors, []);
});

test("an orrery://invite link opens the Teams screen with its code ready to join", async () => {
  const { page } = await openPage({ invitationCodes: { oin_Lk9: { name: "Design studio", role: "editor" } } });
  await page.getByRole("heading", { name: "Graphs", level: 1 }).waitFor();
  await page.evaluate(() => window.__shellDouble.emit("open-invitation", "oin_Lk9"));
  await page.getByRole("heading", { name: "Teams", level: 1 }).waitFor();
  const join = page.getByRole("form", { name: "Join a team" });
  assert.equal(await join.getByLabel("Invitation link or code").inputValue(), "oin_Lk9");
  await join.getByText("An invitation link opened this.").waitFor();
  // Nothing is joined until the person says so.
  assert.equal((await calls(page, "accept_team_invitation")).length, 0);
  await join.getByRole("button", { name: "Join" }).click();
  await page.getByTestId("team-panel").getByRole("heading", { name: "Design studio" }).waitFor();
});
