// The agent and prompt screens: a list on the left, the editor of the chosen
// item on the right. Prompts also show their versions (draft / active /
// archived): publish, roll back, and a side-by-side comparison of two versions.
import {
  api,
  errorMessage,
  MAX_DESCRIPTION_CHARS,
  MAX_LIST_ITEMS,
  MAX_PARAMETERS_BYTES,
  MAX_PATTERN_CHARS,
  MAX_PROMPT_CHARS,
  MAX_SCHEMA_BYTES,
  MAX_TITLE_CHARS,
  MAX_VALIDATORS_PER_PROMPT,
  type Agent,
  type AgentDraft,
  type GraphSummary,
  type LibrarySummary,
  type PromptView,
  type PromptDraft,
  type PromptValidator,
  type PromptVersion,
  type ValidationFailure,
  type ValidatorTarget,
} from "./api";
import { element } from "./dom";

// ---------------------------------------------------------------- checks

/** Checks a one-line field the way the library will. */
export function checkLine(what: string, text: string, required: boolean): string | null {
  const trimmed = text.trim();
  if (required && trimmed.length === 0) return `Give the ${what} a value.`;
  if ([...trimmed].length > MAX_TITLE_CHARS) return `The ${what} is at most ${MAX_TITLE_CHARS} characters.`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(trimmed)) return `The ${what} cannot hold control characters.`;
  // What the server refuses in names (orrery_domain::text): direction
  // overrides and marks, and invisible characters that make look-alikes.
  if (/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/.test(trimmed))
    return `The ${what} cannot hold characters that change the direction of text.`;
  if (/[\u00ad\u180e\u200b\u2028\u2029\u2060\ufeff]/.test(trimmed))
    return `The ${what} cannot hold invisible characters.`;
  return null;
}

function checkText(what: string, text: string, limit: number): string | null {
  if ([...text].length > limit) return `The ${what} is at most ${limit.toLocaleString("en")} characters.`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text))
    return `The ${what} cannot hold control characters.`;
  return null;
}

/** Splits "a, b, ,c" into ["a", "b", "c"]. */
export function splitList(text: string): string[] {
  return text
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
}

function checkList(what: string, items: string[]): string | null {
  if (items.length > MAX_LIST_ITEMS) return `At most ${MAX_LIST_ITEMS} ${what}.`;
  for (const item of items) {
    const problem = checkLine(what, item, true);
    if (problem) return problem;
  }
  return null;
}

/** Reads the parameters box: a JSON object (empty means none), or why not. */
export function parseParameters(text: string): { value: Record<string, unknown> } | { error: string } {
  if (text.trim().length === 0) return { value: {} };
  if (new TextEncoder().encode(text).length > MAX_PARAMETERS_BYTES * 2)
    return { error: `Parameters are at most ${MAX_PARAMETERS_BYTES / 1024} KiB of JSON.` };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { error: `Parameters are not JSON: ${(error as Error).message}` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return { error: 'Parameters are a JSON object, like {"temperature": 0.2}.' };
  if (new TextEncoder().encode(JSON.stringify(value)).length > MAX_PARAMETERS_BYTES)
    return { error: `Parameters are at most ${MAX_PARAMETERS_BYTES / 1024} KiB of JSON.` };
  return { value: value as Record<string, unknown> };
}

/** The first problem with an agent before it is saved, or null. */
export function checkAgent(agent: AgentDraft): string | null {
  return (
    checkLine("name", agent.name, true) ??
    checkText("description", agent.description, MAX_DESCRIPTION_CHARS) ??
    checkText("system prompt", agent.system_prompt, MAX_PROMPT_CHARS) ??
    checkLine("model", agent.model, false) ??
    checkList("tools", agent.tools)
  );
}

/** The first problem with a prompt's own fields before they are saved, or null. */
export function checkPrompt(prompt: PromptDraft): string | null {
  return (
    checkLine("title", prompt.title, true) ??
    checkLine("project", prompt.project, false) ??
    checkLine("segment", prompt.segment, false) ??
    checkText("description", prompt.description, MAX_DESCRIPTION_CHARS) ??
    checkList("tags", prompt.tags)
  );
}

/** The `{{variables}}` a prompt's content uses, in order of first use. */
export function templateVariables(content: string): string[] {
  const seen: string[] = [];
  for (const match of content.matchAll(/\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}/g)) {
    if (!seen.includes(match[1])) seen.push(match[1]);
  }
  return seen;
}

// ---------------------------------------------------------------- validators

type ValidatorKind = PromptValidator["kind"];

const VALIDATOR_KINDS: [ValidatorKind, string][] = [
  ["regex", "Regex"],
  ["length", "Length"],
  ["contains", "Contains"],
  ["json_schema", "JSON schema"],
];

const VALIDATOR_TARGETS: [ValidatorTarget, string][] = [
  ["output", "Each answer given with it"],
  ["content", "The prompt text, on save"],
];

/** The first problem with a prompt's checks before they are saved, or null
 * (the limits of orrery_domain::validator). */
export function checkValidators(validators: PromptValidator[]): string | null {
  if (validators.length > MAX_VALIDATORS_PER_PROMPT) return `A prompt has at most ${MAX_VALIDATORS_PER_PROMPT} checks.`;
  for (const [index, validator] of validators.entries()) {
    const problem = checkValidator(validator);
    if (problem) return `Check ${index + 1}: ${problem}`;
  }
  return null;
}

function checkValidator(validator: PromptValidator): string | null {
  const bounded = (what: string, text: string) => {
    if (text.length === 0) return `the ${what} is empty.`;
    if ([...text].length > MAX_PATTERN_CHARS) return `the ${what} is at most ${MAX_PATTERN_CHARS} characters.`;
    return null;
  };
  switch (validator.kind) {
    case "regex": {
      const problem = bounded("pattern", validator.pattern);
      if (problem) return problem;
      return null;
    }
    case "length": {
      const { min, max } = validator;
      if (min === null && max === null) return "give a minimum, a maximum or both.";
      for (const bound of [min, max]) {
        if (bound !== null && (!Number.isInteger(bound) || bound < 0)) return "lengths are whole numbers of characters, 0 or more.";
      }
      if (min !== null && max !== null && min > max) return `the minimum (${min}) is larger than the maximum (${max}).`;
      return null;
    }
    case "contains":
      return bounded("text to look for", validator.text);
    case "json_schema": {
      const schema = validator.schema;
      if (typeof schema !== "boolean" && (typeof schema !== "object" || schema === null || Array.isArray(schema)))
        return "a JSON schema is an object, like {\"type\": \"object\"}.";
      if (new TextEncoder().encode(JSON.stringify(schema)).length > MAX_SCHEMA_BYTES)
        return `a schema is at most ${MAX_SCHEMA_BYTES / 1024} KiB of JSON.`;
      return null;
    }
  }
}

/** A number field: blank is none. */
function readBound(text: string): number | null {
  return text.trim().length === 0 ? null : Number(text.trim());
}

/** The Checks section of the prompt editor: one row per validator. */
function checksEditor(initial: PromptValidator[]): {
  section: HTMLFieldSetElement;
  read: () => { value: PromptValidator[] } | { error: string };
} {
  const section = element("fieldset", { class: "checks" });
  section.append(
    element("legend", {}, "Checks"),
    element(
      "p",
      { class: "hint" },
      "Checks on the prompt text run on every save (a version that fails them is not published); checks on answers run on every answer an agent gives with this prompt.",
    ),
  );
  const rows = element("ol", { class: "check-list" });
  const readers: (() => { value: PromptValidator } | { error: string })[] = [];
  const addRow = (validator: PromptValidator) => {
    const row = element("li", { class: "check" });
    rows.append(row);
    const number = () => [...rows.children].indexOf(row) + 1;
    const kind = element("select", { "aria-label": `Check ${number()} kind` });
    for (const [value, label] of VALIDATOR_KINDS) kind.append(element("option", { value }, label));
    kind.value = validator.kind;
    const target = element("select", { "aria-label": `Check ${number()} applies to` });
    for (const [value, label] of VALIDATOR_TARGETS) target.append(element("option", { value }, label));
    target.value = validator.target;
    const fields = element("span", { class: "check-fields" });
    let read: () => { value: PromptValidator } | { error: string } = () => ({ error: "" });
    const input = (label: string, value: string, type = "text") => {
      const field = element("input", { type, "aria-label": `Check ${number()} ${label}`, autocomplete: "off" });
      field.value = value;
      return field;
    };
    const showFields = (current: PromptValidator) => {
      fields.replaceChildren();
      const applies = () => target.value as ValidatorTarget;
      switch (current.kind) {
        case "regex": {
          const pattern = input("pattern", current.pattern);
          pattern.placeholder = "^Answer:";
          fields.append(pattern);
          read = () => ({ value: { target: applies(), kind: "regex", pattern: pattern.value } });
          break;
        }
        case "length": {
          const min = input("minimum", current.min === null ? "" : String(current.min), "number");
          const max = input("maximum", current.max === null ? "" : String(current.max), "number");
          min.placeholder = "min";
          max.placeholder = "max";
          fields.append(min, element("span", {}, "to"), max, element("span", {}, "characters"));
          read = () => ({
            value: { target: applies(), kind: "length", min: readBound(min.value), max: readBound(max.value) },
          });
          break;
        }
        case "contains": {
          const text = input("text", current.text);
          const caseLabel = element("label", { class: "check-inline" });
          const ignore = element("input", { type: "checkbox", "aria-label": `Check ${number()} ignores case` });
          ignore.checked = current.ignore_case;
          caseLabel.append(ignore, element("span", {}, "Ignore case"));
          fields.append(text, caseLabel);
          read = () => ({
            value: { target: applies(), kind: "contains", text: text.value, ignore_case: ignore.checked },
          });
          break;
        }
        case "json_schema": {
          const schema = element("textarea", { rows: "3", "aria-label": `Check ${number()} schema` });
          schema.value = JSON.stringify(current.schema, null, 2);
          fields.append(schema);
          read = () => {
            try {
              return { value: { target: applies(), kind: "json_schema", schema: JSON.parse(schema.value) } };
            } catch (error) {
              return { error: `Check ${number()}: the schema is not JSON (${(error as Error).message}).` };
            }
          };
          break;
        }
      }
    };
    kind.addEventListener("change", () => showFields(blankValidator(kind.value as ValidatorKind, target.value as ValidatorTarget)));
    showFields(validator);
    const remove = element("button", { type: "button", class: "quiet" }, `Remove check ${number()}`);
    remove.addEventListener("click", () => {
      const at = [...rows.children].indexOf(row);
      readers.splice(at, 1);
      row.remove();
    });
    row.append(kind, target, fields, remove);
    readers.push(() => read());
  };
  for (const validator of initial) addRow(validator);
  const add = element("button", { type: "button", class: "quiet" }, "Add check");
  add.addEventListener("click", () => addRow(blankValidator("contains", "output")));
  section.append(rows, add);
  return {
    section,
    read: () => {
      const value: PromptValidator[] = [];
      for (const reader of readers) {
        const read = reader();
        if ("error" in read) return read;
        value.push(read.value);
      }
      const problem = checkValidators(value);
      return problem ? { error: problem } : { value };
    },
  };
}

function blankValidator(kind: ValidatorKind, target: ValidatorTarget): PromptValidator {
  switch (kind) {
    case "regex":
      return { target, kind, pattern: "" };
    case "length":
      return { target, kind, min: null, max: null };
    case "contains":
      return { target, kind, text: "", ignore_case: false };
    case "json_schema":
      return { target, kind, schema: { type: "object" } };
  }
}

/** What a version's checks say: each failure, or that it passes. */
function versionChecks(failures: ValidationFailure[] | undefined, contentChecks: number): HTMLElement | null {
  if (failures && failures.length > 0) {
    const box = element("div", { class: "failures", "data-testid": "version-failures" });
    box.append(element("strong", {}, failures.length === 1 ? "Fails 1 check" : `Fails ${failures.length} checks`));
    const list = element("ul", {});
    for (const failure of failures) list.append(element("li", {}, `${failure.validator}: ${failure.reason}`));
    box.append(list);
    return box;
  }
  return contentChecks > 0 ? element("small", { class: "passes" }, "Passes its checks") : null;
}

// ---------------------------------------------------------------- diff

/** One row of a side-by-side comparison. */
export interface DiffRow {
  kind: "same" | "removed" | "added" | "changed";
  left: string | null;
  right: string | null;
}

/** Most lines compared with the exact method; longer texts compare in blocks. */
const DIFF_EXACT_LINES = 4_000;

/**
 * Compares two texts line by line (longest common subsequence) and pairs the
 * removed and added lines of each changed block side by side.
 */
export function diffLines(before: string, after: string): DiffRow[] {
  const a = before.split("\n");
  const b = after.split("\n");
  if (a.length > DIFF_EXACT_LINES || b.length > DIFF_EXACT_LINES) {
    // Too long for the quadratic table: show the texts as one changed block.
    return pairBlock(a, b);
  }
  // lengths[i][j]: the longest common subsequence of a[i..] and b[j..].
  const lengths: Uint32Array[] = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lengths[i][j] = a[i] === b[j] ? lengths[i + 1][j + 1] + 1 : Math.max(lengths[i + 1][j], lengths[i][j + 1]);
    }
  }
  const rows: DiffRow[] = [];
  let removed: string[] = [];
  let added: string[] = [];
  const flush = () => {
    rows.push(...pairBlock(removed, added));
    removed = [];
    added = [];
  };
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      flush();
      rows.push({ kind: "same", left: a[i], right: b[j] });
      i++;
      j++;
    } else if (j < b.length && (i === a.length || lengths[i][j + 1] >= lengths[i + 1][j])) {
      added.push(b[j++]);
    } else {
      removed.push(a[i++]);
    }
  }
  flush();
  return rows;
}

function pairBlock(removed: string[], added: string[]): DiffRow[] {
  const rows: DiffRow[] = [];
  for (let k = 0; k < Math.max(removed.length, added.length); k++) {
    const left = k < removed.length ? removed[k] : null;
    const right = k < added.length ? added[k] : null;
    rows.push({ kind: left !== null && right !== null ? "changed" : left !== null ? "removed" : "added", left, right });
  }
  return rows;
}

// ---------------------------------------------------------------- shared

/** The change listener of the screen on show; a new screen replaces it. */
let stopListening: (() => void) | null = null;

async function listenForChanges(kind: "agent" | "prompt", refresh: () => Promise<void>): Promise<void> {
  stopListening?.();
  stopListening = null;
  const stop = await api.onLibraryItemChanged((changed) => {
    if (changed === kind) void refresh();
  });
  stopListening = stop;
}

function describeVersion(version: PromptVersion, index: number): string {
  return `v${index + 1} · ${version.status}`;
}

function shortTime(at: string): string {
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? at : date.toLocaleString("en", { dateStyle: "medium", timeStyle: "short" });
}

interface Layout {
  list: HTMLUListElement;
  editor: HTMLElement;
  notice: HTMLParagraphElement;
  newButton: HTMLButtonElement;
}

function layout(root: HTMLElement, title: string, newLabel: string): Layout {
  root.replaceChildren();
  const header = element("header", { class: "bar" });
  const newButton = element("button", { type: "button" }, newLabel);
  header.append(element("h1", {}, title), newButton);
  const notice = element("p", { class: "notice", role: "alert", "data-testid": "notice" });
  notice.hidden = true;
  const columns = element("div", { class: "library" });
  const list = element("ul", { class: "items", "aria-label": title });
  const editor = element("section", { class: "editor", "aria-label": "Editor" });
  columns.append(list, editor);
  root.append(header, notice, columns);
  return { list, editor, notice, newButton };
}

function say(notice: HTMLParagraphElement, message: string | null, kind: "bad" | "good" = "bad"): void {
  notice.hidden = message === null;
  notice.textContent = message ?? "";
  notice.dataset.kind = kind;
}

function textArea(label: string, name: string, value: string, rows: number): { wrapper: HTMLLabelElement; input: HTMLTextAreaElement } {
  const wrapper = element("label", { class: "field" });
  const input = element("textarea", { name, rows: String(rows), "aria-label": label });
  input.value = value;
  wrapper.append(element("span", {}, label), input);
  return { wrapper, input };
}

function lineField(label: string, name: string, value: string): { wrapper: HTMLLabelElement; input: HTMLInputElement } {
  const wrapper = element("label", { class: "field" });
  const input = element("input", { name, "aria-label": label, autocomplete: "off" });
  input.value = value;
  wrapper.append(element("span", {}, label), input);
  return { wrapper, input };
}

function renderList(
  list: HTMLUListElement,
  items: LibrarySummary[],
  selected: string | null,
  detail: (item: LibrarySummary) => string,
  choose: (id: string) => void,
  emptyText: string,
): void {
  list.replaceChildren();
  if (items.length === 0) {
    list.append(element("li", { class: "empty" }, emptyText));
    return;
  }
  for (const item of items) {
    const row = element("li", { "data-id": item.id });
    const button = element("button", { type: "button", class: "item", "aria-current": String(item.id === selected) });
    button.append(element("strong", {}, item.title), element("small", {}, detail(item)));
    button.addEventListener("click", () => choose(item.id));
    row.append(button);
    list.append(row);
  }
}

/** A Delete button that asks once more before it deletes. */
function deleteButton(what: string, remove: () => Promise<void>): HTMLButtonElement {
  const button = element("button", { type: "button", class: "quiet danger" }, "Delete");
  let armed = false;
  button.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      button.textContent = `Delete this ${what} everywhere?`;
      return;
    }
    button.disabled = true;
    try {
      await remove();
    } finally {
      button.disabled = false;
    }
  });
  button.addEventListener("blur", () => {
    armed = false;
    button.textContent = "Delete";
  });
  return button;
}

/** What an editor's action row needs to save, duplicate and delete its item. */
interface EditorActions<T> {
  what: "agent" | "prompt";
  /** The item's id, or null for a new one (then only Save is offered). */
  id: string | null;
  name: string;
  duplicate: (id: string) => Promise<T>;
  nameOf: (item: T) => string;
  /** Shows an item in the editor (the copy just made). */
  opened: (item: T) => void;
  /** Empties the editor after a delete. */
  removed: () => void;
  refresh: () => Promise<void>;
  notice: HTMLParagraphElement;
}

/** The editor's buttons: Save (or Create), and for a stored item Duplicate and Delete. */
function editorActions<T>(options: EditorActions<T>): { actions: HTMLDivElement; save: HTMLButtonElement } {
  const { what, id, notice } = options;
  const actions = element("div", { class: "actions" });
  const save = element("button", { type: "submit" }, id ? `Save ${what}` : `Create ${what}`);
  actions.append(save);
  if (id === null) return { actions, save };
  const duplicate = element("button", { type: "button", class: "quiet" }, "Duplicate");
  duplicate.addEventListener("click", async () => {
    try {
      const copy = await options.duplicate(id);
      options.opened(copy);
      await options.refresh();
      say(notice, `Made “${options.nameOf(copy)}”.`, "good");
    } catch (error) {
      say(notice, errorMessage(error));
    }
  });
  const remove = deleteButton(what, async () => {
    try {
      await api.deleteLibraryItem(what, id);
      options.removed();
      await options.refresh();
      say(notice, `Deleted “${options.name}”.`, "good");
    } catch (error) {
      say(notice, errorMessage(error));
    }
  });
  actions.append(duplicate, remove);
  return { actions, save };
}

const EMPTY_AGENT_EDITOR = "Choose an agent, or create one.";
const EMPTY_PROMPT_EDITOR = "Choose a prompt, or create one.";

// ---------------------------------------------------------------- agents

const EMPTY_AGENT: AgentDraft = {
  id: null, name: "", description: "", system_prompt: "", model: "", parameters: {}, tools: [], public: false, graph: null,
};

/** The "Runs graph" select of the agent editor, filled once the graphs are listed. */
function graphSelect(current: string | null, graphs: Promise<GraphSummary[]>): { wrapper: HTMLLabelElement; select: HTMLSelectElement } {
  const wrapper = element("label", { class: "field" });
  const select = element("select", { name: "graph", "aria-label": "Runs graph" });
  select.append(element("option", { value: "" }, "None (a single agent)"));
  if (current) select.append(element("option", { value: current }, "A graph not listed yet"));
  select.value = current ?? "";
  void graphs.then((listed) => {
    const chosen = select.value;
    select.replaceChildren(element("option", { value: "" }, "None (a single agent)"));
    for (const graph of listed) select.append(element("option", { value: graph.id }, graph.name));
    if (chosen && !listed.some((graph) => graph.id === chosen))
      select.append(element("option", { value: chosen }, "A graph not on this device"));
    select.value = chosen;
  });
  wrapper.append(
    element("span", {}, "Runs graph"),
    select,
    element("small", { class: "hint" }, "A custom agent runs a whole graph's agents as its team."),
  );
  return { wrapper, select };
}

export async function mountAgents(root: HTMLElement): Promise<void> {
  const { list, editor, notice, newButton } = layout(root, "Agents", "New agent");
  let selected: string | null = null;

  async function refresh(): Promise<void> {
    try {
      const [agents, graphs] = await Promise.all([api.listLibrary("agent"), api.listGraphs()]);
      const graphNames = new Map(graphs.map((graph) => [graph.id, graph.name]));
      renderList(
        list,
        agents,
        selected,
        (item) => {
          const graph = item.summary.graph;
          if (typeof graph === "string")
            return `Custom agent · runs “${graphNames.get(graph) ?? "a graph not on this device"}”`;
          const model = String(item.summary.model ?? "");
          return model.length > 0 ? `Model ${model}` : "No model chosen";
        },
        (id) => void open(id),
        "No agents yet. Create one to give it a name, a system prompt, a model and tools.",
      );
    } catch (error) {
      say(notice, `The agents could not be listed: ${errorMessage(error)}`);
    }
  }

  async function open(id: string): Promise<void> {
    try {
      selected = id;
      edit(await api.getAgent(id));
      await refresh();
    } catch (error) {
      say(notice, errorMessage(error));
    }
  }

  function edit(agent: AgentDraft): void {
    say(notice, null);
    editor.replaceChildren();
    const form = element("form", { class: "agent", "aria-label": agent.id ? "Edit agent" : "New agent" });
    const name = lineField("Name", "name", agent.name);
    const model = lineField("Model", "model", agent.model);
    // A placeholder that reads as a hint, not as a chosen value.
    model.input.placeholder = "None chosen — e.g. llama3.2";
    const description = textArea("Description", "description", agent.description, 2);
    const system = textArea("System prompt", "system_prompt", agent.system_prompt, 6);
    const parameters = textArea(
      "Parameters (JSON)",
      "parameters",
      Object.keys(agent.parameters).length > 0 ? JSON.stringify(agent.parameters, null, 2) : "",
      3,
    );
    parameters.input.placeholder = 'None — e.g. {"temperature": 0.2}';
    const tools = lineField("Tools (comma-separated)", "tools", agent.tools.join(", "));
    const publicLabel = element("label", { class: "check" });
    const publicBox = element("input", { type: "checkbox", name: "public" });
    publicBox.checked = agent.public;
    publicLabel.append(publicBox, element("span", {}, "Public: others may see and use it"));
    const runs = graphSelect(agent.graph, api.listGraphs().catch(() => []));
    const { actions, save } = editorActions({
      what: "agent",
      id: agent.id,
      name: agent.name,
      duplicate: api.duplicateAgent,
      nameOf: (copy: Agent) => copy.name,
      opened: (copy: Agent) => {
        selected = copy.id;
        edit(copy);
      },
      removed: () => {
        selected = null;
        editor.replaceChildren(element("p", { class: "empty" }, EMPTY_AGENT_EDITOR));
      },
      refresh,
      notice,
    });
    form.append(name.wrapper, model.wrapper, description.wrapper, system.wrapper, parameters.wrapper, tools.wrapper, runs.wrapper, publicLabel, actions);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const parsed = parseParameters(parameters.input.value);
      if ("error" in parsed) return say(notice, parsed.error);
      const draft: AgentDraft = {
        id: agent.id,
        name: name.input.value,
        description: description.input.value,
        system_prompt: system.input.value,
        model: model.input.value,
        parameters: parsed.value,
        tools: splitList(tools.input.value),
        public: publicBox.checked,
        graph: runs.select.value || null,
      };
      const problem = checkAgent(draft);
      if (problem) return say(notice, problem);
      save.disabled = true;
      try {
        const saved: Agent = await api.saveAgent(draft);
        selected = saved.id;
        edit(saved);
        await refresh();
        say(notice, "Saved.", "good");
      } catch (error) {
        say(notice, errorMessage(error));
      } finally {
        save.disabled = false;
      }
    });
    editor.append(form);
    name.input.focus();
  }

  newButton.addEventListener("click", () => {
    selected = null;
    edit({ ...EMPTY_AGENT });
    void refresh();
  });
  editor.append(element("p", { class: "empty" }, EMPTY_AGENT_EDITOR));
  await listenForChanges("agent", refresh);
  await refresh();
}

// ---------------------------------------------------------------- prompts

const EMPTY_PROMPT: PromptDraft = {
  id: null, title: "", project: "", segment: "", description: "", tags: [], validators: [],
};

/** What the prompt editor shows: the draft fields, and for a stored prompt its versions and checks. */
type PromptEditing = PromptDraft & {
  versions?: PromptVersion[];
  checks?: Record<string, ValidationFailure[]>;
};

/** Where a prompt sits: "Project / Segment", or "No project". */
function place(summary: Record<string, unknown>): string {
  const parts = [summary.project, summary.segment].filter((part) => typeof part === "string" && part.length > 0);
  return parts.length > 0 ? parts.join(" / ") : "No project";
}

export async function mountPrompts(root: HTMLElement): Promise<void> {
  const { list, editor, notice, newButton } = layout(root, "Prompts", "New prompt");
  let selected: string | null = null;

  async function refresh(): Promise<void> {
    try {
      const prompts = await api.listLibrary("prompt");
      // Grouped by project and segment, then most recently changed first.
      prompts.sort((a, b) => place(a.summary).localeCompare(place(b.summary)));
      renderList(
        list,
        prompts,
        selected,
        (item) => `${place(item.summary)} · ${Number(item.summary.versions ?? 0)} versions`,
        (id) => void open(id),
        "No prompts yet. Create one, then write its first version.",
      );
    } catch (error) {
      say(notice, `The prompts could not be listed: ${errorMessage(error)}`);
    }
  }

  async function open(id: string): Promise<void> {
    try {
      selected = id;
      edit(await api.getPrompt(id));
      await refresh();
    } catch (error) {
      say(notice, errorMessage(error));
    }
  }

  function edit(prompt: PromptEditing): void {
    say(notice, null);
    editor.replaceChildren();
    const form = element("form", { class: "prompt", "aria-label": prompt.id ? "Edit prompt" : "New prompt" });
    const title = lineField("Title", "title", prompt.title);
    const project = lineField("Project", "project", prompt.project);
    const segment = lineField("Segment", "segment", prompt.segment);
    const description = textArea("Description", "description", prompt.description, 2);
    const tags = lineField("Tags (comma-separated)", "tags", prompt.tags.join(", "));
    const checks = checksEditor(prompt.validators ?? []);
    const { actions, save } = editorActions({
      what: "prompt",
      id: prompt.id,
      name: prompt.title,
      duplicate: api.duplicatePrompt,
      nameOf: (copy: PromptView) => copy.title,
      opened: (copy: PromptView) => {
        selected = copy.id;
        edit(copy);
      },
      removed: () => {
        selected = null;
        editor.replaceChildren(element("p", { class: "empty" }, EMPTY_PROMPT_EDITOR));
      },
      refresh,
      notice,
    });
    form.append(title.wrapper, project.wrapper, segment.wrapper, description.wrapper, tags.wrapper, checks.section, actions);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const validators = checks.read();
      if ("error" in validators) return say(notice, validators.error);
      const draft: PromptDraft = {
        id: prompt.id,
        title: title.input.value,
        project: project.input.value,
        segment: segment.input.value,
        description: description.input.value,
        tags: splitList(tags.input.value),
        validators: validators.value,
      };
      const problem = checkPrompt(draft);
      if (problem) return say(notice, problem);
      save.disabled = true;
      try {
        const saved = await api.savePrompt(draft);
        selected = saved.id;
        edit(saved);
        await refresh();
        say(notice, "Saved.", "good");
      } catch (error) {
        say(notice, errorMessage(error));
      } finally {
        save.disabled = false;
      }
    });
    editor.append(form);
    if (prompt.id && prompt.versions) {
      const contentChecks = (prompt.validators ?? []).filter((validator) => validator.target === "content").length;
      editor.append(versionsPanel(prompt.id, prompt.versions, prompt.checks ?? {}, contentChecks));
    }
  }

  function versionsPanel(
    id: string,
    versions: PromptVersion[],
    checks: Record<string, ValidationFailure[]>,
    contentChecks: number,
  ): HTMLElement {
    const panel = element("section", { class: "versions", "aria-label": "Versions" });
    panel.append(element("h2", {}, "Versions"));
    const table = element("ol", { class: "version-list" });
    const compareLeft = element("select", { name: "compare-left", "aria-label": "Compare from" });
    const compareRight = element("select", { name: "compare-right", "aria-label": "Compare with" });
    versions.forEach((version, index) => {
      const row = element("li", { "data-version": version.id, "data-status": version.status });
      row.append(
        element("span", { class: `status ${version.status}` }, describeVersion(version, index)),
        element("small", {}, shortTime(version.activated_at ?? version.created_at)),
      );
      const vars = templateVariables(version.content);
      if (vars.length > 0) row.append(element("small", { class: "vars" }, `Variables: ${vars.join(", ")}`));
      const said = versionChecks(checks[version.id], contentChecks);
      if (said) row.append(said);
      if (version.status !== "active") {
        const label = version.status === "archived" ? "Roll back to this" : "Publish";
        const publish = element("button", { type: "button", class: "quiet" }, label);
        publish.addEventListener("click", async () => {
          try {
            const updated = await api.publishPromptVersion(id, version.id);
            edit(updated);
            await refresh();
            say(notice, version.status === "archived" ? `Rolled back to v${index + 1}.` : `Published v${index + 1}.`, "good");
          } catch (error) {
            say(notice, errorMessage(error));
          }
        });
        row.append(publish);
      }
      const preview = element("pre", { class: "content" });
      preview.textContent = version.content;
      row.append(preview);
      table.append(row);
      for (const select of [compareLeft, compareRight]) {
        select.append(element("option", { value: version.id }, describeVersion(version, index)));
      }
    });
    if (versions.length === 0) table.append(element("li", { class: "empty" }, "No versions yet: write the first draft below."));
    panel.append(table);

    if (versions.length >= 2) {
      const compare = element("div", { class: "compare" });
      compareLeft.value = versions[versions.length - 2].id;
      compareRight.value = versions[versions.length - 1].id;
      const diffView = element("table", { class: "diff", "aria-label": "Comparison" });
      const show = () => {
        const left = versions.find((version) => version.id === compareLeft.value);
        const right = versions.find((version) => version.id === compareRight.value);
        diffView.replaceChildren();
        if (!left || !right) return;
        for (const row of diffLines(left.content, right.content)) {
          const tr = element("tr", { "data-kind": row.kind });
          tr.append(element("td", {}, row.left ?? ""), element("td", {}, row.right ?? ""));
          diffView.append(tr);
        }
      };
      compareLeft.addEventListener("change", show);
      compareRight.addEventListener("change", show);
      compare.append(element("span", {}, "Compare"), compareLeft, element("span", {}, "with"), compareRight);
      panel.append(compare, diffView);
      show();
    }

    const draftForm = element("form", { class: "draft", "aria-label": "Write a version" });
    const latest = versions.length > 0 ? versions[versions.length - 1].content : "";
    const content = textArea("New version", "content", latest, 6);
    const variables = element("small", { class: "vars", "data-testid": "variables" });
    const showVariables = () => {
      const found = templateVariables(content.input.value);
      variables.textContent = found.length > 0 ? `Variables: ${found.join(", ")}` : "No {{variables}}";
    };
    content.input.addEventListener("input", showVariables);
    showVariables();
    const saveDraft = element("button", { type: "submit" }, "Save as draft");
    draftForm.append(content.wrapper, variables, saveDraft);
    draftForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const problem = checkText("version", content.input.value, MAX_PROMPT_CHARS);
      if (problem) return say(notice, problem);
      if (content.input.value.trim().length === 0) return say(notice, "Write the version's text first.");
      saveDraft.disabled = true;
      try {
        const updated = await api.addPromptVersion(id, content.input.value);
        edit(updated);
        await refresh();
        say(notice, `Saved v${updated.versions.length} as a draft.`, "good");
      } catch (error) {
        say(notice, errorMessage(error));
      } finally {
        saveDraft.disabled = false;
      }
    });
    panel.append(draftForm);
    return panel;
  }

  newButton.addEventListener("click", () => {
    selected = null;
    edit({ ...EMPTY_PROMPT });
    void refresh();
  });
  editor.append(element("p", { class: "empty" }, EMPTY_PROMPT_EDITOR));
  await listenForChanges("prompt", refresh);
  await refresh();
}
