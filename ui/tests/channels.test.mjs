// The Channels screen in headless Chromium, against the shell's IPC contract.
import { test } from "node:test";
import assert from "node:assert/strict";
import { openPage } from "./harness.mjs";

async function openScreen(setup = {}) {
  const { page, errors } = await openPage({ agents: [{ name: "Helper", model: "llama3.2" }], ...setup });
  await page.getByRole("button", { name: "Channels", exact: true }).click();
  await page.getByRole("heading", { name: "Channels", level: 1 }).waitFor();
  return { page, errors };
}

test("the server gets this app's provider, a bot is connected to an agent and disconnected after a confirmation", async () => {
  const { page, errors } = await openScreen({ graphs: [{ name: "Support triage" }] });
  const provider = page.getByTestId("server-provider");
  await provider.getByText("Not set").waitFor();
  await provider.getByRole("button", { name: "Use this app's provider" }).click();
  await provider.getByText("llama3.2").waitFor();

  const telegram = page.getByRole("article", { name: "Telegram" });
  const form = telegram.getByRole("form", { name: "Connect Telegram" });
  assert.deepEqual(await form.getByLabel("Answers with").locator("option").allTextContents(), ["Agent · Helper", "Graph · Support triage"]);
  await form.getByLabel("Bot token").fill("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw");
  await form.getByRole("button", { name: "Connect Telegram" }).click();
  await telegram.getByText("Connected").waitFor();
  await telegram.getByText("@orrery_helper_bot", { exact: true }).waitFor();
  await telegram.getByText("Agent · Helper").waitFor();
  const connect = await page.evaluate(() => window.__shellDouble.calls.find((call) => call.command === "connect_channel"));
  assert.equal(connect.args.connection.kind, "telegram");
  assert.equal(connect.args.connection.bot_token, "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw");
  assert.match(connect.args.connection.agent_id, /^[0-9a-f-]{36}$/);
  assert.equal(connect.args.connection.graph_id, null);
  // The token is not left in the page.
  assert.equal((await page.content()).includes("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"), false);

  await telegram.getByRole("button", { name: "Disconnect" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Disconnect" }).click();
  await telegram.getByText("Not connected").waitFor();
  assert.deepEqual(errors, []);
});

test("a token that is not one is refused with the reason, and WhatsApp asks for every field", async () => {
  const { page } = await openScreen();
  const telegram = page.getByRole("article", { name: "Telegram" });
  await telegram.getByLabel("Bot token").fill("not-a-token");
  await telegram.getByRole("button", { name: "Connect Telegram" }).click();
  await page.getByRole("alert").filter({ hasText: "that is not a bot token" }).waitFor();

  const whatsapp = page.getByRole("article", { name: "WhatsApp" });
  await whatsapp.getByLabel("Phone number ID").fill("106540352242922");
  await whatsapp.getByRole("button", { name: "Connect WhatsApp" }).click();
  await page.getByRole("alert").filter({ hasText: "WhatsApp needs the number's id" }).waitFor();
  const calls = await page.evaluate(() => window.__shellDouble.calls.filter((call) => call.command === "connect_channel"));
  assert.equal(calls.length, 1, "the incomplete WhatsApp form was not sent");
});

test("a channel's last messages say what happened to each", async () => {
  const { page } = await openScreen({
    channels: [
      {
        kind: "whatsapp",
        name: "+1 555 010 0000",
        last_messages: [
          { chat: "4915112345678", direction: "out", text: "Too late.", status: "window_closed", detail: "not sent: the person's last message is over 24 hours old", at: "2026-12-05T10:00:00.000Z" },
          { chat: "4915112345678", direction: "in", text: "Still there?", status: "answered", detail: null, at: "2026-12-04T09:00:00.000Z" },
        ],
      },
    ],
  });
  const whatsapp = page.getByRole("article", { name: "WhatsApp" });
  await whatsapp.getByText("Connected").waitFor();
  const rows = whatsapp.getByRole("row");
  assert.equal(await rows.count(), 3);
  assert.match(await rows.nth(1).textContent(), /Too late\..*Window closed/);
  assert.equal(await rows.nth(1).getByText("Window closed").getAttribute("title"), "not sent: the person's last message is over 24 hours old");
  assert.match(await rows.nth(2).textContent(), /Still there\?.*Answered/);
});
