// The peer benchmark: draws a graph file (orrery.graph JSON) with
// 3d-force-graph in headless Chromium on this machine (software WebGL, no
// GPU, like our canvas on lavapipe) and prints one JSON line with its frame
// times. Node positions are fixed to the file's, so the peer spends no time
// on layout: only drawing is measured.
//
//   node bench/peer/run.mjs GRAPH.json [FRAMES] [WIDTHxHEIGHT]

import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const [graphPath, framesArg = "120", sizeArg = "1280x720"] = process.argv.slice(2);
if (!graphPath) {
  console.error("usage: node bench/peer/run.mjs GRAPH.json [FRAMES] [WIDTHxHEIGHT]");
  process.exit(2);
}
const frames = Number(framesArg);
const [width, height] = sizeArg.split("x").map(Number);
const file = JSON.parse(readFileSync(graphPath, "utf8"));
const data = {
  nodes: file.nodes.map((node) => ({
    id: node.id,
    kind: node.kind,
    fx: node.position.x,
    fy: node.position.y,
    fz: node.position.z,
  })),
  links: file.edges.map((edge) => ({ source: edge.from, target: edge.to })),
};

const library = readFileSync(join(here, "node_modules/3d-force-graph/dist/3d-force-graph.min.js"));
const page = `<!doctype html><html><head><style>html,body{margin:0;background:#090a0f;overflow:hidden}</style>
<script src="/3d-force-graph.min.js"></script></head><body><div id="graph"></div></body></html>`;
const server = createServer((request, response) => {
  if (request.url === "/3d-force-graph.min.js") {
    response.writeHead(200, { "content-type": "text/javascript" }).end(library);
  } else if (request.url === "/graph.json") {
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(data));
  } else {
    response.writeHead(200, { "content-type": "text/html" }).end(page);
  }
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${server.address().port}/`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
    // Software WebGL (SwiftShader): this machine has no GPU.
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
    // Let requestAnimationFrame run as fast as the page can draw.
    "--disable-frame-rate-limit", "--disable-gpu-vsync",
  ],
});
try {
  const tab = await browser.newPage({ viewport: { width, height } });
  const errors = [];
  tab.on("pageerror", (error) => errors.push(String(error)));
  await tab.goto(url);
  const result = await tab.evaluate(async ({ frames }) => {
    const colours = { agent: "#408cff", prompt: "#ffb030", tool: "#48d868", input: "#b060ff", output: "#ff5454" };
    const loadStarted = performance.now();
    const graph = await (await fetch("/graph.json")).json();
    const view = new ForceGraph3D(document.getElementById("graph"))
      .width(window.innerWidth)
      .height(window.innerHeight)
      .backgroundColor("#090a0f")
      .nodeColor((node) => colours[node.kind])
      .nodeRelSize(4)
      .linkDirectionalArrowLength(0)
      .cooldownTicks(0)
      .warmupTicks(0)
      .graphData(graph);
    // Wait until frames are being drawn, then time them.
    const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
    for (let i = 0; i < 10; i++) await frame();
    const loadMs = performance.now() - loadStarted;
    const times = [];
    let last = await frame();
    for (let i = 0; i < frames; i++) {
      // Keep the camera moving so every frame really redraws.
      const angle = i * 0.01;
      const distance = view.cameraPosition().z || 1000;
      view.cameraPosition({ x: Math.sin(angle) * 10, y: 0 }, undefined, 0);
      const now = await frame();
      times.push(now - last);
      last = now;
      void distance;
    }
    const renderer = view.renderer();
    const gl = renderer.getContext();
    const info = gl.getExtension("WEBGL_debug_renderer_info");
    return {
      loadMs,
      times,
      renderer: info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER),
      nodes: graph.nodes.length,
      edges: graph.links.length,
    };
  }, { frames });
  const sorted = [...result.times].sort((a, b) => a - b);
  const percentile = (fraction) => sorted[Math.round((sorted.length - 1) * fraction)];
  console.log(JSON.stringify({
    bench: "peer",
    peer: "3d-force-graph " + JSON.parse(readFileSync(join(here, "node_modules/3d-force-graph/package.json"), "utf8")).version,
    browser: "Chromium " + browser.version() + " headless",
    renderer: result.renderer,
    nodes: result.nodes,
    edges: result.edges,
    frames: sorted.length,
    load_ms: Math.round(result.loadMs),
    frame_ms_p50: percentile(0.5),
    frame_ms_p95: percentile(0.95),
    fps: 1000 / percentile(0.5),
    page_errors: errors,
  }));
} finally {
  await browser.close();
  server.close();
}
