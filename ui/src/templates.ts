// The template gallery: a card per template with a drawing of its graph, its
// agents, and a button that adds it to the library.
import type { TemplateCard } from "./api";
import { element } from "./dom";

const SVG = "http://www.w3.org/2000/svg";

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number>): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

/** The template's graph drawn left to right: nodes as rounded boxes coloured by kind (agents blue, prompts green), edges as curves. */
export function templatePreview(template: TemplateCard): SVGSVGElement {
  const { nodes, edges } = template.preview;
  const xs = nodes.map((node) => node.x);
  const ys = nodes.map((node) => -node.y);
  const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  // World units to drawing units: boxes 3.2 wide, 1.4 tall (columns are 4.5 apart), with a margin.
  const [boxW, boxH, margin] = [3.2, 1.4, 0.8];
  const width = maxX - minX + boxW + margin * 2;
  const height = maxY - minY + boxH + margin * 2;
  const at = (index: number) => ({
    x: nodes[index].x - minX + margin,
    y: -nodes[index].y - minY + margin,
  });
  const drawing = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "template-preview",
    role: "img",
    "aria-label": `${template.title}: ${nodes.map((node) => node.label).join(" → ")}`,
  });
  for (const [from, to] of edges) {
    const a = at(from);
    const b = at(to);
    const [x1, y1, x2, y2] = [a.x + boxW, a.y + boxH / 2, b.x, b.y + boxH / 2];
    const bend = (x2 - x1) / 2;
    drawing.append(svg("path", { d: `M${x1} ${y1} C${x1 + bend} ${y1} ${x2 - bend} ${y2} ${x2} ${y2}`, class: "edge" }));
  }
  nodes.forEach((node, index) => {
    const { x, y } = at(index);
    const group = svg("g", { class: `node ${node.kind}` });
    group.append(svg("rect", { x, y, width: boxW, height: boxH, rx: 0.6 }));
    // Too small to read at card size: the label is the node's tooltip and
    // the drawing's accessible name lists them all.
    const title = svg("title", {});
    title.textContent = `${node.label} (${node.kind})`;
    group.append(title);
    drawing.append(group);
  });
  return drawing;
}

/** A gallery of templates; `use` adds one (the card's button waits while it does). */
export function templateGallery(templates: TemplateCard[], use: (template: TemplateCard) => Promise<void>): HTMLElement {
  const gallery = element("ul", { class: "template-gallery", "aria-label": "Templates" });
  for (const template of templates) {
    const card = element("li", { class: "template-card", "data-template": template.key });
    const button = element("button", { type: "button", "aria-label": `Use template: ${template.title}` }, "Use template");
    button.addEventListener("click", () => {
      button.disabled = true;
      void use(template).finally(() => {
        button.disabled = false;
      });
    });
    const agents = element("p", { class: "agents" }, template.agents.join(" · "));
    card.append(
      templatePreview(template),
      element("h3", {}, template.title),
      element("p", { class: "summary" }, template.summary),
      agents,
      button,
    );
    gallery.append(card);
  }
  return gallery;
}
