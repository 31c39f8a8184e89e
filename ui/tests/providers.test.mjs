// The model provider screen in headless Chromium, against the shell's IPC contract.
import { test } from "node:test";
import assert from "node:assert/strict";
import { openPage } from "./harness.mjs";

async function openScreen() {
  const { page, errors } = await openPage();
  await page.getByRole("button", { name: "Providers", exact: true }).click();
  await page.getByRole("heading", { name: "Model provider" }).waitFor();
  return { page, errors };
}

test("the local default, and a test that says how to start a local provider", async () => {
  const { page, errors } = await openScreen();
  assert.equal(await page.getByLabel("Address").inputValue(), "http://127.0.0.1:11434/v1");
  assert.equal(await page.getByLabel("Model").inputValue(), "llama3.2");
  assert.match(await page.getByTestId("key-state").textContent(), /No key needed/);
  await page.getByRole("button", { name: "Test connection" }).click();
  const alert = page.getByRole("alert").filter({ hasText: "No model provider answers at http://127.0.0.1:11434/v1" });
  await alert.waitFor();
  assert.match(await alert.textContent(), /ollama serve/);
  await page.evaluate(() => {
    window.__shellDouble.provider.answering = true;
  });
  await page.getByRole("button", { name: "Test connection" }).click();
  await page.getByRole("alert").filter({ hasText: "The provider answered: “OK from llama3.2”" }).waitFor();
  assert.deepEqual(errors, []);
});

test("a hosted provider's key goes to the keyring and is never shown again", async () => {
  const { page } = await openScreen();
  await page.getByLabel("Provider", { exact: true }).selectOption("anthropic");
  assert.equal(await page.getByLabel("Address").inputValue(), "https://api.anthropic.com");
  assert.match(await page.getByTestId("key-state").textContent(), /needs an API key/);
  await page.getByLabel("API key").fill("sk-ant-secret-123");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("alert").filter({ hasText: "Saved." }).waitFor();
  assert.equal(await page.getByLabel("API key").inputValue(), "");
  assert.match(await page.getByTestId("key-state").textContent(), /A key is saved in the system keyring/);
  const saved = await page.evaluate(() => window.__shellDouble.calls.filter((call) => call.command === "save_provider"));
  assert.deepEqual(saved[0].args, {
    settings: {
      kind: "anthropic",
      base_url: "https://api.anthropic.com",
      model: "claude-3-5-haiku-latest",
      // The call limits are not on the screen: what was loaded goes back unchanged.
      limits: { connect_timeout_ms: 5000, idle_timeout_ms: 120000, max_attempts: 4 },
    },
    apiKey: "sk-ant-secret-123",
  });
  // Saving again without touching the key keeps it (no key is sent).
  await page.getByLabel("Model").fill("claude-3-5-sonnet-latest");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("alert").filter({ hasText: "Saved." }).waitFor();
  const again = await page.evaluate(() => window.__shellDouble.calls.filter((call) => call.command === "save_provider"));
  assert.equal(again[1].args.apiKey, null);
  assert.equal(await page.evaluate(() => window.__shellDouble.provider.keys.get("anthropic")), "sk-ant-secret-123");
  // The key is nowhere in the page.
  assert.equal((await page.content()).includes("sk-ant-secret-123"), false);
});

test("a bad address or model is refused before it is sent", async () => {
  const { page } = await openScreen();
  const alert = page.getByRole("alert");
  await page.getByLabel("Address").fill("ftp://models.example");
  await page.getByRole("button", { name: "Save" }).click();
  await alert.filter({ hasText: "starts with http:// or https://" }).waitFor();
  await page.getByLabel("Address").fill("not a url");
  await page.getByRole("button", { name: "Save" }).click();
  await alert.filter({ hasText: "is not a URL" }).waitFor();
  await page.getByLabel("Address").fill("http://user:pw@127.0.0.1:11434/v1");
  await page.getByRole("button", { name: "Save" }).click();
  await alert.filter({ hasText: "not in the address" }).waitFor();
  await page.getByLabel("Address").fill("http://127.0.0.1:11434/v1");
  await page.getByLabel("Model").fill("   ");
  await page.getByRole("button", { name: "Save" }).click();
  await alert.filter({ hasText: "Name the model" }).waitFor();
  const saves = await page.evaluate(() => window.__shellDouble.calls.filter((call) => call.command === "save_provider").length);
  assert.equal(saves, 0);
});
