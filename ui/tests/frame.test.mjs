// The app frame in headless Chromium: the mark opens About.
import { test } from "node:test";
import assert from "node:assert/strict";
import { openPage } from "./harness.mjs";

test("the mark opens About with the version, the server and links opened by the shell", async () => {
  const { page, errors } = await openPage();
  await page.getByRole("button", { name: "About Orrery" }).click();
  const about = page.getByRole("dialog", { name: "Orrery" });
  await about.waitFor();
  const text = await about.textContent();
  assert.match(text, /Version0\.1\.0/);
  assert.match(text, /LicenceMIT or Apache-2\.0/);
  assert.match(text, /Syncs withhttp:\/\/127\.0\.0\.1:7878/);
  assert.match(text, /Built on Tauri, Bevy/);
  await about.getByRole("button", { name: "Source code ↗" }).click();
  await page.waitForFunction(() => window.__shellDouble.calls.some((call) => call.command === "open_about_link"));
  const opened = await page.evaluate(() => window.__shellDouble.calls.find((call) => call.command === "open_about_link"));
  assert.deepEqual(opened.args, { key: "source" });
  await about.getByRole("button", { name: "Close" }).click();
  await about.waitFor({ state: "detached" });
  // Focus returns to the mark that opened it.
  assert.equal(await page.getByRole("button", { name: "About Orrery" }).evaluate((button) => button === document.activeElement), true);
  assert.deepEqual(errors, []);
});
