// Shared by the screen tests: serves ui/dist on loopback and starts headless
// Chromium through playwright-core; each page gets the shell's IPC stand-in.
import { before, after } from "node:test";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "..", "dist");
const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };
let server;
let browser;
let baseUrl;

before(async () => {
  server = createServer(async (request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url, "http://x").pathname));
    const file = join(dist, path === "/" ? "index.html" : path);
    if (!file.startsWith(dist)) return response.writeHead(403).end();
    try {
      const body = await readFile(file);
      response.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" }).end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${server.address().port}/`;
  // Playwright starts Chromium headless with a fresh temporary profile.
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    ],
  });
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

/** A new page with the shell stand-in installed; `setup` is handed to it
 * first. `options.hash` opens another window's screens (`#admin`). */
export async function openPage(setup = {}, options = {}) {
  const { hash = "", ...pageOptions } = options;
  const page = await browser.newPage({ viewport: { width: 960, height: 680 }, ...pageOptions });
  const errors = [];
  page.on("pageerror", (error) => errors.push(error));
  await page.addInitScript((value) => {
    window.__shellDoubleSetup = value;
  }, setup);
  await page.addInitScript({ path: join(here, "shell-double.js") });
  await page.goto(`${baseUrl}${hash}`);
  return { page, errors };
}
