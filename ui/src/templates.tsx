// The template gallery: a card per template with a picture of its graph as
// the canvas draws it, its agents, and a button that adds it to the library.
import { useState } from "preact/hooks";
import type { TemplateCard } from "./api";
import { ActionButton } from "./controls";

/** Size of the canvas's pictures of the templates (`make previews`). */
const PREVIEW_SIZE = { width: 400, height: 168 };

/**
 * The template's graph as the canvas draws it (`ui/public/templates/<key>.png`,
 * drawn by `make previews`), or, should that picture be missing, a sketch of
 * it drawn here from the template's own positions.
 */
export function TemplatePreview({ template }: { template: TemplateCard }) {
  const [pictured, setPictured] = useState(true);
  const names = `${template.title}: ${template.preview.nodes.map((node) => node.label).join(" → ")}`;
  if (pictured) {
    return (
      <img
        class="template-picture"
        src={`templates/${template.key}.png`}
        alt={names}
        {...PREVIEW_SIZE}
        onError={() => setPictured(false)}
      />
    );
  }
  return <TemplateSketch template={template} label={names} />;
}

/** The template's graph drawn left to right: nodes as rounded boxes coloured by kind (agents blue, prompts green), edges as curves. */
function TemplateSketch({ template, label }: { template: TemplateCard; label: string }) {
  const { nodes, edges } = template.preview;
  const xs = nodes.map((node) => node.x);
  const ys = nodes.map((node) => -node.y);
  const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  // World units to drawing units: boxes 3.2 wide, 1.4 tall (columns are 4.5 apart), with a margin.
  const [boxW, boxH, margin] = [3.2, 1.4, 0.8];
  const width = maxX - minX + boxW + margin * 2;
  const height = maxY - minY + boxH + margin * 2;
  const at = (index: number) => ({ x: nodes[index].x - minX + margin, y: -nodes[index].y - minY + margin });
  return (
    <svg
      viewBox={`0 0 ${width} ${height}`}
      class="template-preview"
      role="img"
      aria-label={label}
    >
      {edges.map(([from, to]) => {
        const [a, b] = [at(from), at(to)];
        const [x1, y1, x2, y2] = [a.x + boxW, a.y + boxH / 2, b.x, b.y + boxH / 2];
        const bend = (x2 - x1) / 2;
        return <path class="edge" d={`M${x1} ${y1} C${x1 + bend} ${y1} ${x2 - bend} ${y2} ${x2} ${y2}`} />;
      })}
      {nodes.map((node, index) => (
        <g class={`node ${node.kind}`}>
          <rect {...at(index)} width={boxW} height={boxH} rx={0.6} />
          {/* Too small to read at card size: the label is the node's tooltip
              and the drawing's accessible name lists them all. */}
          <title>{`${node.label} (${node.kind})`}</title>
        </g>
      ))}
    </svg>
  );
}

/** A gallery of templates; `use` adds one (the card's button waits while it does). */
export function TemplateGallery({ templates, use }: { templates: TemplateCard[]; use: (template: TemplateCard) => Promise<void> }) {
  return (
    <ul class="template-gallery" aria-label="Templates">
      {templates.map((template) => (
        <li class="template-card" data-template={template.key} key={template.key}>
          <TemplatePreview template={template} />
          <h3>{template.title}</h3>
          <p class="summary">{template.summary}</p>
          <p class="agents">{template.agents.join(" · ")}</p>
          <ActionButton aria-label={`Use template: ${template.title}`} onClick={() => use(template)}>
            Use template
          </ActionButton>
        </li>
      ))}
    </ul>
  );
}
