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

test("an orrery:// link to a listing opens its page, and a failed link says why", async () => {
  const { page, errors } = await openPage({
    signedIn: true,
    marketplace: [
      { title: "Trip planner", description: "Plans trips.", tags: ["travel"] },
      { title: "Contract reviewer", description: "Flags risky clauses.", tags: ["legal"] },
    ],
  });
  await page.locator('[data-screen="graphs"][aria-current="true"]').waitFor();
  const id = await page.evaluate(() => window.__shellDouble.market.find((listing) => listing.title === "Contract reviewer").id);
  await page.evaluate((listing) => window.__shellDouble.emit("open-listing", listing), id);
  await page.locator('[data-screen="marketplace"][aria-current="true"]').waitFor();
  await page.getByRole("heading", { name: "Contract reviewer" }).waitFor();
  await page.evaluate(() => window.__shellDouble.emit("notice", "The link's graph could not be opened: no such graph"));
  await page.getByText("The link's graph could not be opened: no such graph").waitFor();
  assert.deepEqual(errors, []);
  await page.close();
});

test("About opens the log folder", async () => {
  const { page, errors } = await openPage({ signedIn: true });
  await page.locator('[data-screen="graphs"][aria-current="true"]').waitFor();
  await page.getByRole("button", { name: "About Orrery" }).click();
  await page.getByTestId("open-log-folder").click();
  await page.getByText("The log is in /home/ada/.local/share/studio.orrery.desktop/logs.").waitFor();
  assert.deepEqual(errors, []);
  await page.close();
});
