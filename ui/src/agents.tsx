// The agent screen: the library's agents, and the editor of the chosen one
// (name, model, description, system prompt, parameters, tools, the graph a
// custom agent runs, public).
import { useEffect, useRef, useState } from "preact/hooks";
import { api, MAX_DESCRIPTION_CHARS, MAX_PARAMETERS_BYTES, MAX_PROMPT_CHARS, type AgentDraft, type GraphSummary, type JsonValue } from "./api";
import { Field } from "./controls";
import { checkLine, checkList, checkText, EditorActions, LibraryScreen, splitList, useLibrary, type Library, type Listed } from "./library";

/** Reads the parameters box: a JSON object (empty means none), or why not. */
export function parseParameters(text: string): { value: Record<string, JsonValue> } | { error: string } {
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
  // JSON.parse gives JSON values only.
  return { value: value as Record<string, JsonValue> };
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


const EMPTY_AGENT: AgentDraft = {
  id: null, name: "", description: "", system_prompt: "", model: "", parameters: {}, tools: [], public: false, graph: null,
};

/** The agents as the list shows them: a custom agent names the graph it runs, the others their model. */
async function listAgents(): Promise<Listed[]> {
  const [agents, graphs] = await Promise.all([api.listLibrary("agent"), api.listGraphs()]);
  const graphNames = new Map(graphs.map((graph) => [graph.id, graph.name]));
  return agents.map((item) => {
    const graph = item.summary.graph;
    const model = String(item.summary.model ?? "");
    const detail =
      typeof graph === "string"
        ? `Custom agent · runs “${graphNames.get(graph) ?? "a graph not on this device"}”`
        : model.length > 0
          ? `Model ${model}`
          : "No model chosen";
    return { id: item.id, title: item.title, detail };
  });
}

export function Agents() {
  const library = useLibrary<AgentDraft>("agent", listAgents, api.getAgent);
  return (
    <LibraryScreen
      title="Agents"
      newLabel="New agent"
      blank={EMPTY_AGENT}
      library={library}
      emptyList="No agents yet. Create one to give it a name, a system prompt, a model and tools."
      emptyEditor="Choose an agent, or create one."
    >
      {library.editing && <AgentEditor key={library.editing.serial} agent={library.editing.item} library={library} />}
    </LibraryScreen>
  );
}

function AgentEditor({ agent, library }: { agent: AgentDraft; library: Library<AgentDraft> }) {
  const [form, setForm] = useState({
    name: agent.name,
    model: agent.model,
    description: agent.description,
    system_prompt: agent.system_prompt,
    parameters: Object.keys(agent.parameters).length > 0 ? JSON.stringify(agent.parameters, null, 2) : "",
    tools: agent.tools.join(", "),
    graph: agent.graph ?? "",
    public: agent.public,
  });
  const set =
    <K extends keyof typeof form>(field: K) =>
    (value: (typeof form)[K]) =>
      setForm((last) => ({ ...last, [field]: value }));
  const [saving, setSaving] = useState(false);
  const name = useRef<HTMLInputElement>(null);
  useEffect(() => name.current?.focus(), []);

  async function save(event: Event): Promise<void> {
    event.preventDefault();
    const parsed = parseParameters(form.parameters);
    if ("error" in parsed) return library.say(parsed.error);
    const draft: AgentDraft = {
      id: agent.id,
      name: form.name,
      description: form.description,
      system_prompt: form.system_prompt,
      model: form.model,
      parameters: parsed.value,
      tools: splitList(form.tools),
      public: form.public,
      graph: form.graph || null,
    };
    const problem = checkAgent(draft);
    if (problem) return library.say(problem);
    setSaving(true);
    await library.act(() => api.saveAgent(draft), () => "Saved.");
    setSaving(false);
  }

  return (
    <form class="agent" aria-label={agent.id ? "Edit agent" : "New agent"} onSubmit={save}>
      <Field label="Name" name="name" autocomplete="off" value={form.name} onValue={set("name")} inputRef={name} />
      {/* A placeholder that reads as a hint, not as a chosen value. */}
      <Field label="Model" name="model" autocomplete="off" placeholder="None chosen — e.g. llama3.2" value={form.model} onValue={set("model")} />
      <Field label="Description" name="description" rows={2} value={form.description} onValue={set("description")} />
      <Field label="System prompt" name="system_prompt" rows={6} value={form.system_prompt} onValue={set("system_prompt")} />
      <Field
        label="Parameters (JSON)"
        name="parameters"
        rows={3}
        placeholder='None — e.g. {"temperature": 0.2}'
        value={form.parameters}
        onValue={set("parameters")}
      />
      <Field label="Tools (comma-separated)" name="tools" autocomplete="off" value={form.tools} onValue={set("tools")} />
      <GraphSelect value={form.graph} onValue={set("graph")} />
      <label class="check">
        <input type="checkbox" name="public" checked={form.public} onChange={(event) => set("public")(event.currentTarget.checked)} />
        <span>Public: others may see and use it</span>
      </label>
      <EditorActions
        what="agent"
        id={agent.id}
        name={agent.name}
        saving={saving}
        library={library}
        duplicate={api.duplicateAgent}
        nameOf={(copy) => copy.name}
      />
    </form>
  );
}

/** The "Runs graph" select of the agent editor, filled once the graphs are listed. */
function GraphSelect({ value, onValue }: { value: string; onValue: (value: string) => void }) {
  const [graphs, setGraphs] = useState<GraphSummary[] | null>(null);
  useEffect(() => {
    api.listGraphs().then(setGraphs, () => setGraphs([]));
  }, []);
  const unlisted = value !== "" && !graphs?.some((graph) => graph.id === value);
  return (
    <label class="field">
      <span>Runs graph</span>
      <select name="graph" aria-label="Runs graph" value={value} onChange={(event) => onValue(event.currentTarget.value)}>
        <option value="">None (a single agent)</option>
        {graphs?.map((graph) => (
          <option value={graph.id} key={graph.id}>{graph.name}</option>
        ))}
        {unlisted && <option value={value}>{graphs ? "A graph not on this device" : "A graph not listed yet"}</option>}
      </select>
      <small class="hint">A custom agent runs a whole graph's agents as its team.</small>
    </label>
  );
}
