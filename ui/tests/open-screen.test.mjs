// The canvas asks the main window for a screen: a failed run's
// "Open Providers" lands on the Providers screen.
import { test } from "node:test";
import assert from "node:assert/strict";
import { openPage } from "./harness.mjs";

test("the canvas's Open Providers shows the Providers screen", async () => {
  const { page, errors } = await openPage({ signedIn: true });
  await page.locator('[data-screen="graphs"][aria-current="true"]').waitFor();
  await page.evaluate(() => window.__shellDouble.emit("open-screen", "providers"));
  await page.locator('[data-screen="providers"][aria-current="true"]').waitFor();
  // A name that is no screen changes nothing.
  await page.evaluate(() => window.__shellDouble.emit("open-screen", "../admin"));
  assert.equal(await page.locator('[data-screen="providers"]').getAttribute("aria-current"), "true");
  assert.deepEqual(errors, []);
  await page.close();
});
