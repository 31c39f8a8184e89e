// Updates in the main window: the bar that offers a new version with its
// notes, "Install and restart" with a progress bar, a failure shown with
// its reason (the running version keeps running), and About's channel and
// "Check for updates".
import { test } from "node:test";
import assert from "node:assert/strict";
import { openPage } from "./harness.mjs";

const UPDATE = { version: "0.1.1", notes: "The canvas opens graphs of 100k nodes twice as fast." };

test("an update found by the timer's check is offered with its notes, and installs with progress", async () => {
  const { page, errors } = await openPage({ signedIn: true, update: UPDATE });
  await page.locator('[data-screen="graphs"][aria-current="true"]').waitFor();
  // Nothing is offered until a check finds something.
  assert.equal(await page.getByTestId("update-bar").count(), 0);
  await page.evaluate(() => window.__shellDouble.emit("update-state", {
    status: "available", current_version: "0.1.0", version: "0.1.1",
    notes: "The canvas opens graphs of 100k nodes twice as fast.", pub_date: "2026-12-07T10:00:00Z", message: null,
  }));
  const bar = page.getByTestId("update-bar");
  await bar.getByRole("heading", { name: "Orrery 0.1.1 is ready" }).waitFor();
  assert.match(await bar.textContent(), /You have 0\.1\.0/);
  await bar.getByText("What's new").click();
  assert.equal(await page.getByTestId("update-notes").textContent(), UPDATE.notes);
  await page.getByTestId("install-update").click();
  await bar.getByText("Restarting into 0.1.1…").waitFor();
  assert.equal(await page.evaluate(() => window.__shellDouble.updates.installed), "0.1.1");
  assert.deepEqual(errors, []);
  await page.close();
});

test("a failed install says why, keeps the running version, and can be tried again", async () => {
  const reason = "the update was not installed: its signature does not match the release key";
  const { page, errors } = await openPage({ signedIn: true, update: UPDATE, updateFails: reason });
  await page.locator('[data-screen="graphs"][aria-current="true"]').waitFor();
  await page.evaluate(() => window.__shellDouble.emit("update-state", {
    status: "available", current_version: "0.1.0", version: "0.1.1", notes: null, pub_date: null, message: null,
  }));
  await page.getByTestId("install-update").click();
  const failed = page.getByTestId("update-failed");
  await failed.waitFor();
  assert.equal(await failed.textContent(), `${reason}. Orrery 0.1.0 keeps running.`);
  assert.equal(await page.getByTestId("install-update").textContent(), "Try again");
  assert.equal(await page.evaluate(() => window.__shellDouble.updates.installed), null);
  // "Later" puts the offer away.
  await page.getByRole("button", { name: "Later" }).click();
  assert.equal(await page.getByTestId("update-bar").count(), 0);
  assert.deepEqual(errors, []);
  await page.close();
});

test("About checks for updates and moves the installation between channels", async () => {
  const { page, errors } = await openPage({ signedIn: true });
  await page.locator('[data-screen="graphs"][aria-current="true"]').waitFor();
  await page.getByRole("button", { name: "About Orrery" }).click();
  const dialog = page.locator("dialog.about-dialog");
  await dialog.getByRole("heading", { name: "Updates" }).waitFor();
  await dialog.getByTestId("check-updates").click();
  await dialog.getByText("Orrery 0.1.0 is the newest version.").waitFor();
  assert.equal(await page.evaluate(() => window.__shellDouble.updates.checks), 1);
  await dialog.getByTestId("update-channel").selectOption("beta");
  await dialog.getByText("You will be offered betas as well as stable releases.").waitFor();
  assert.equal(await page.evaluate(() => window.__shellDouble.updates.channel), "beta");
  assert.deepEqual(errors, []);
  await page.close();
});
