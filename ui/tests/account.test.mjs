// The account screens in headless Chromium, against the shell's IPC contract:
// sign in, create an account, reset a password, profile and theme, sign out.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { here, openPage } from "./harness.mjs";

const alert = (page) => page.getByTestId("account-notice");
const signInButton = (page) => page.getByRole("form", { name: "Sign in with email" }).getByRole("button", { name: "Sign in" });

async function signedOut(setup = {}, options = {}) {
  const opened = await openPage({ signedIn: false, ...setup }, options);
  await opened.page.getByRole("heading", { name: "Sign in" }).waitFor();
  return opened;
}

async function callsOf(page, command) {
  return page.evaluate((name) => window.__shellDouble.calls.filter((call) => call.command === name), command);
}

test("a signed-out user sees sign-in; a wrong password, a locked account and no network each get their message", async () => {
  const { page, errors } = await signedOut();
  await page.getByLabel("Email", { exact: true }).fill("ada@orrery.test");
  await page.getByLabel("Password", { exact: true }).fill("not it");
  await signInButton(page).click();
  await alert(page).filter({ hasText: "Wrong email or password." }).waitFor();

  for (let attempt = 0; attempt < 4; attempt++) await signInButton(page).click();
  await signInButton(page).click();
  await alert(page).filter({ hasText: /locked for 15 minutes/ }).waitFor();
  assert.match(await alert(page).textContent(), /^This account is locked/);

  await page.evaluate(() =>
    window.__shellDouble.failWith("sign_in", { code: "offline", message: "the Orrery server at http://127.0.0.1:7878 cannot be reached" }),
  );
  await signInButton(page).click();
  await alert(page).filter({ hasText: "Can't reach the Orrery server" }).waitFor();

  // Bad input never reaches the shell.
  const before = (await callsOf(page, "sign_in")).length;
  await page.getByLabel("Email", { exact: true }).fill("not an email");
  await signInButton(page).click();
  await alert(page).filter({ hasText: "Enter an email address" }).waitFor();
  assert.equal((await callsOf(page, "sign_in")).length, before);
  assert.deepEqual(errors, []);
});

test("signing in with the right password opens the library and shows who is signed in", async () => {
  const { page, errors } = await signedOut();
  await page.getByLabel("Email", { exact: true }).fill("  ada@orrery.test ");
  await page.getByLabel("Password", { exact: true }).fill("correct horse battery");
  await signInButton(page).click();
  await page.getByText("Start from a template").waitFor();
  assert.equal(await page.locator('[data-screen="account"]').textContent(), "Ada");
  const [call] = await callsOf(page, "sign_in");
  assert.deepEqual(call.args, { email: "ada@orrery.test", password: "correct horse battery" });
  assert.deepEqual(errors, []);
});

test("provider buttons come from the shell and sign in through it", async () => {
  const { page } = await signedOut();
  await page.getByRole("button", { name: "Continue with GitHub" }).click();
  await page.getByText("Start from a template").waitFor();
  const [call] = await callsOf(page, "sign_in_with_provider");
  assert.deepEqual(call.args, { provider: "github" });
});

test("creating an account checks the fields first, then signs in", async () => {
  const { page } = await signedOut();
  await page.getByRole("tab", { name: "Create account" }).click();
  await page.getByLabel("Name", { exact: true }).fill("Grace");
  await page.getByLabel("Email", { exact: true }).fill("grace@orrery.test");
  await page.getByLabel("Password", { exact: true }).fill("short");
  await page.getByRole("button", { name: "Create account" }).click();
  await alert(page).filter({ hasText: "Use at least 8 characters." }).waitFor();
  assert.equal((await callsOf(page, "register")).length, 0);

  await page.getByLabel("Email", { exact: true }).fill("ada@orrery.test");
  await page.getByLabel("Password", { exact: true }).fill("a long enough passphrase");
  await page.getByRole("button", { name: "Create account" }).click();
  await alert(page).filter({ hasText: "already exists" }).waitFor();

  await page.getByLabel("Email", { exact: true }).fill("grace@orrery.test");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByText("Start from a template").waitFor();
  assert.equal(await page.locator('[data-screen="account"]').textContent(), "Grace");
});

test("a mailed code resets the password once", async () => {
  const { page } = await signedOut();
  await page.getByRole("tab", { name: "Forgot password" }).click();
  await page.getByLabel("Email", { exact: true }).fill("ada@orrery.test");
  await page.getByRole("button", { name: "Send a reset code" }).click();
  await alert(page).filter({ hasText: "a code is on its way" }).waitFor();
  const code = await page.evaluate(() => [...window.__shellDouble.resetCodes.keys()][0]);
  await page.getByLabel("Code from the email", { exact: true }).fill(code);
  await page.getByLabel("New password", { exact: true }).fill("brand new passphrase");
  await page.getByRole("button", { name: "Set new password" }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await page.getByLabel("Email", { exact: true }).fill("ada@orrery.test");
  await page.getByLabel("Password", { exact: true }).fill("brand new passphrase");
  await signInButton(page).click();
  await page.getByText("Start from a template").waitFor();
});

test("settings: the theme applies to the whole window at once and is saved; sign out returns to sign-in", async () => {
  const { page, errors } = await openPage({}, { colorScheme: "dark" });
  await page.getByText("Start from a template").waitFor();
  await page.locator('[data-screen="account"]').click();
  await page.getByRole("heading", { name: "Profile and settings" }).waitFor();
  assert.equal(await page.locator('[data-fact="Trial"]').textContent(), "14 days left");
  assert.equal(await page.locator('[data-fact="Plan"]').textContent(), "Free plan");
  assert.equal(await page.locator('[data-fact="Role"]').textContent(), "Member");
  assert.equal(await page.getByTestId("admin-badge").count(), 0);
  const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const dark = await background();

  await page.getByLabel("Light", { exact: true }).check();
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "light");
  const light = await background();
  assert.notEqual(light, dark, "the window changed colour");
  assert.equal(light, "rgb(246, 247, 251)");
  await page.waitForFunction(() => window.__shellDouble.calls.some((call) => call.command === "update_profile"));
  assert.deepEqual((await callsOf(page, "update_profile"))[0].args, { theme: "light" });
  await mkdir(join(here, "..", "test-results"), { recursive: true });
  await page.screenshot({ path: join(here, "..", "test-results", "profile-light.png") });

  // The graph screen keeps the theme.
  await page.locator('[data-screen="graphs"]').click();
  await page.getByText("Start from a template").waitFor();
  assert.equal(await background(), light);

  // A refused save puts the theme back and says why.
  await page.locator('[data-screen="account"]').click();
  await page.evaluate(() => window.__shellDouble.failWith("update_profile", { code: "offline", message: "offline" }));
  await page.getByLabel("Dark", { exact: true }).click();
  await alert(page).filter({ hasText: "Can't reach the Orrery server" }).waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "light");
  assert.equal(await page.getByLabel("Light", { exact: true }).isChecked(), true);
  await page.evaluate(() => window.__shellDouble.failWith("update_profile", null));

  await page.getByTestId("sign-out").click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  assert.equal(await page.locator('[data-screen="account"]').textContent(), "Sign in");
  assert.deepEqual(errors, []);
});

test("the account that administers the server says so", async () => {
  const { page } = await openPage({ role: "admin" });
  await page.getByText("Start from a template").waitFor();
  await page.locator('[data-screen="account"]').click();
  await page.getByRole("heading", { name: "Profile and settings" }).waitFor();
  assert.equal(await page.getByTestId("admin-badge").textContent(), "Admin");
  assert.equal(await page.locator('[data-fact="Role"]').textContent(), "Administrator of this server");
});
