// The graph library: list, create, rename, import and export graph files, open
// in the canvas; sync state on top.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, errorMessage, MAX_GRAPH_NAME_CHARS, RESTORE_DAYS, type GraphSummary, type SyncStatus, type TemplateCard, type Workspaces } from "./api";
import { ActionButton, Notice, useNotice, type Say } from "./controls";
import { confirmAction, toast } from "./feedback";
import { useShellEvent } from "./shell-events";
import { GraphHistory } from "./history";
import { TemplateGallery } from "./templates";
import { count } from "./words";

/** "restorable for 29 more days" for a graph deleted at `deletedAt`. */
export function restoreWindow(deletedAt: string, now: number = Date.now()): string {
  const left = Math.ceil(RESTORE_DAYS - (now - Date.parse(deletedAt)) / 86_400_000);
  if (left <= 1) return "restorable until tomorrow";
  return `restorable for ${Math.min(left, RESTORE_DAYS)} more days`;
}

/** The words the status pill shows for a sync state. */
export function describeSync(status: SyncStatus): string {
  switch (status.state) {
    case "synced":
      return "Synced";
    case "pending":
      return status.pending_changes === 1
        ? "1 change pending"
        : status.pending_changes > 1
          ? `${status.pending_changes} changes pending`
          : "Syncing…";
    case "offline":
      return status.pending_changes === 1
        ? "Offline — 1 change waits to sync"
        : status.pending_changes > 1
          ? `Offline — ${status.pending_changes} changes wait to sync`
          : "Offline — edits are kept and sync later";
    case "signed_out":
      return "Not signed in — edits stay on this device";
    case "error":
      return `Sync error: ${status.message ?? "unknown"}`;
  }
}

/** How the list is ordered. */
export type GraphOrder = "recent" | "name" | "size";

const ORDERS: [GraphOrder, string][] = [
  ["recent", "Last edited"],
  ["name", "Name A–Z"],
  ["size", "Most nodes"],
];

/** The order chosen last in this session (the window's life), else the most recently edited first. */
const ORDER_KEY = "orrery.graph-order";

function rememberedOrder(): GraphOrder {
  const stored = sessionStorage.getItem(ORDER_KEY);
  return ORDERS.find(([order]) => order === stored)?.[0] ?? "recent";
}

/** The graphs whose name holds `query` (any case, any accents), in `order`. */
export function arrangeGraphs(graphs: GraphSummary[], query: string, order: GraphOrder): GraphSummary[] {
  const fold = (text: string) => text.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();
  const wanted = fold(query.trim());
  const shown = wanted ? graphs.filter((graph) => fold(graph.name).includes(wanted)) : [...graphs];
  const byName = (a: GraphSummary, b: GraphSummary) => a.name.localeCompare(b.name, undefined, { sensitivity: "base" });
  if (order === "name") shown.sort(byName);
  else if (order === "size") shown.sort((a, b) => b.node_count - a.node_count || byName(a, b));
  else shown.sort((a, b) => b.updated_at.localeCompare(a.updated_at) || byName(a, b));
  return shown;
}

/** Checks a graph name the way the library will, so mistakes show before a round trip. */
export function checkGraphName(name: string): string | null {
  const trimmed = name.trim();
  if (trimmed.length === 0) return "Give the graph a name.";
  if ([...trimmed].length > MAX_GRAPH_NAME_CHARS)
    return `Names are at most ${MAX_GRAPH_NAME_CHARS} characters.`;
  return null;
}

/** The pill that says where sync stands; `moved` is told when what it counts changes. */
function SyncPill({ moved, say }: { moved: () => void; say: Say }) {
  const [status, setStatus] = useState<SyncStatus | null>(null);
  const last = useRef<SyncStatus | null>(null);
  const show = (next: SyncStatus) => {
    const before = last.current;
    last.current = next;
    setStatus(next);
    // Each card says whether its graph awaits the server; when the pill
    // moves, those answers may have too, so the cards are read again and
    // never disagree with the pill.
    if (before && (before.state !== next.state || before.pending_changes !== next.pending_changes)) moved();
  };
  useShellEvent(api.onSyncStatus, show);
  useEffect(() => {
    api.syncStatus().then(show, (error) => say(errorMessage(error)));
  }, []);
  return (
    <span class="sync" data-testid="sync-status" role="status" data-state={status?.state} title={status?.message ?? undefined}>
      {status ? describeSync(status) : "Connecting…"}
    </span>
  );
}

/** A one-field form in place of a card's actions: it opens with the field selected; Escape or Cancel closes it. */
function CardForm(props: {
  label: string;
  intro?: string;
  field: string;
  name: string;
  initial: string;
  submitLabel: string;
  submit: (value: string) => Promise<void>;
  close: () => void;
}) {
  const [value, setValue] = useState(props.initial);
  const [saving, setSaving] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.select(), []);
  return (
    <form
      class="rename"
      aria-label={props.label}
      onSubmit={(event) => {
        event.preventDefault();
        setSaving(true);
        void props.submit(value).finally(() => setSaving(false));
      }}
    >
      {props.intro && <span>{props.intro}</span>}
      <input
        ref={input}
        name={props.name}
        aria-label={props.field}
        autocomplete="off"
        value={value}
        onInput={(event) => setValue(event.currentTarget.value)}
        onKeyDown={(event) => {
          if (event.key === "Escape") props.close();
        }}
      />
      <button type="submit" disabled={saving}>{props.submitLabel}</button>
      <button type="button" class="quiet" onClick={props.close}>Cancel</button>
    </form>
  );
}

/** The graph whose card shows a form (rename, save as agent) instead of its actions. */
type Editing = { id: string; form: "rename" | "agent" | "team" | "history" } | null;

/** The Graphs screen; `showTemplates` (the welcome's choice) puts focus on the template gallery. */
export function GraphList({ showTemplates = false }: { showTemplates?: boolean }) {
  /** The library, once listed. */
  const [graphs, setGraphs] = useState<GraphSummary[] | null>(null);
  const [deleted, setDeleted] = useState<GraphSummary[]>([]);
  const [templates, setTemplates] = useState<TemplateCard[]>([]);
  const [editing, setEditing] = useState<Editing>(null);
  const [name, setName] = useState("");
  const [creating, setCreating] = useState(false);
  const [query, setQuery] = useState("");
  const [order, setOrder] = useState(rememberedOrder);
  const search = useRef<HTMLInputElement>(null);
  const [said, say] = useNotice();
  const moreTemplates = useRef<HTMLDetailsElement>(null);
  const pointedAtTemplates = useRef(!showTemplates);

  /** Runs `work`; what the shell refuses is said under the form. */
  const attempt = (work: () => Promise<unknown>): Promise<void> =>
    work().then(
      () => undefined,
      (error) => say(errorMessage(error)),
    );

  const [workspaces, setWorkspaces] = useState<Workspaces | null>(null);
  // A viewer's team: open and export only (the shell refuses the rest too).
  const writable = workspaces?.writable ?? true;
  const teamName = (id: string | null) => workspaces?.teams.find((team) => team.id === id)?.name ?? "this team";
  // Teams this person may add graphs to (not as a viewer).
  const copyTargets = workspaces && workspaces.current === null ? workspaces.teams.filter((team) => team.role !== "viewer") : [];

  async function switchTo(team: string | null): Promise<void> {
    await attempt(async () => {
      setWorkspaces(await api.switchWorkspace(team));
      setQuery("");
      await refresh();
    });
  }

  async function copyToTeam(graph: GraphSummary, team: string): Promise<void> {
    await attempt(async () => {
      await api.copyGraphToTeam(graph.id, team);
      setEditing(null);
      toast(`“${graph.name}” was copied to ${teamName(team)}.`, {
        kind: "good",
        action: { label: `Open ${teamName(team)}`, run: () => switchTo(team) },
      });
    });
  }

  const refresh = () =>
    attempt(async () => {
      const [listed, gone] = await Promise.all([api.listGraphs(), api.listDeletedGraphs()]);
      setGraphs(listed);
      setDeleted(gone);
    });

  useShellEvent(api.onLibraryChanged, () => void refresh());
  useEffect(() => {
    void refresh();
    api.listTemplates().then(setTemplates, (error) => say(errorMessage(error)));
    api.listWorkspaces().then(setWorkspaces, () => setWorkspaces(null));
  }, []);

  // Chosen from the welcome: the gallery opens and its first template has focus.
  useEffect(() => {
    if (pointedAtTemplates.current || graphs === null || templates.length === 0) return;
    pointedAtTemplates.current = true;
    if (moreTemplates.current) moreTemplates.current.open = true;
    document.querySelector<HTMLElement>(".template-gallery button")?.focus();
  });

  async function create(event: Event): Promise<void> {
    event.preventDefault();
    const problem = checkGraphName(name);
    if (problem) return say(problem);
    setCreating(true);
    await attempt(async () => {
      await api.createGraph(name.trim());
      setName("");
      say(null);
      await refresh();
    });
    setCreating(false);
  }

  const importGraph = () =>
    attempt(async () => {
      const imported = await api.importGraph();
      if (imported === null) return; // cancelled
      say(`Imported “${imported.name}”: ${imported.node_count} nodes, ${imported.edge_count} edges.`, "good");
      await refresh();
    });

  const addTemplate = (template: TemplateCard) =>
    attempt(async () => {
      const graph = await api.addTemplate(template.key);
      say(null);
      if (moreTemplates.current) moreTemplates.current.open = false;
      await refresh();
      toast(`Added “${graph.name}” with its ${template.agents.length} agents.`, {
        action: { label: "Open in canvas", run: () => attempt(() => api.openGraph(graph.id)) },
      });
    });

  const rename = (graph: GraphSummary, value: string) => {
    const problem = checkGraphName(value);
    if (problem) return Promise.resolve(say(problem));
    return attempt(async () => {
      await api.renameGraph(graph.id, value.trim());
      setEditing(null);
      say(null);
      await refresh();
    });
  };

  /** Makes the graph a custom agent: an agent node of that name runs the graph's agents. */
  const saveAsAgent = (graph: GraphSummary, value: string) => {
    const agentName = value.trim() || graph.name;
    if ([...agentName].length > 200) return Promise.resolve(say("An agent's name is at most 200 characters."));
    return attempt(async () => {
      const agent = await api.saveGraphAsAgent(graph.id, agentName, `Runs the graph “${graph.name}”.`);
      setEditing(null);
      say(`Saved as the agent “${agent.name}”. Put an agent node named ${agent.name} in any graph to use it.`, "good");
    });
  };

  const duplicate = (graph: GraphSummary) =>
    attempt(async () => {
      const copy = await api.duplicateGraph(graph.id);
      say(null);
      await refresh();
      toast(`Made “${copy.name}”.`);
    });

  const exportGraph = (graph: GraphSummary) =>
    attempt(async () => {
      const path = await api.exportGraph(graph.id);
      if (path !== null) say(`Saved “${graph.name}” to ${path}.`, "good");
    });

  async function deleteGraph(graph: GraphSummary): Promise<void> {
    const sure = await confirmAction({
      title: `Delete “${graph.name}”?`,
      body: `It leaves the library on every device you sync. You can restore it from Recently deleted for ${RESTORE_DAYS} days.`,
      confirm: "Delete graph",
      danger: true,
    });
    if (!sure) return;
    await attempt(async () => {
      await api.deleteGraph(graph.id);
      say(null);
      await refresh();
      toast(`Deleted “${graph.name}”.`, { action: { label: "Undo", run: () => restore(graph) } });
    });
  }

  const restore = (graph: GraphSummary) =>
    attempt(async () => {
      await api.restoreGraph(graph.id);
      await refresh();
      toast(`Restored “${graph.name}”.`);
    });

  const card = (graph: GraphSummary) => {
    if (editing?.id === graph.id) {
      const close = () => setEditing(null);
      return (
        <li data-graph-id={graph.id} key={graph.id}>
          {editing.form === "history" ? (
            <GraphHistory graph={graph} writable={writable} close={close} say={say} />
          ) : editing.form === "team" ? (
            <form
              class="rename"
              aria-label={`Copy ${graph.name} to a team`}
              onSubmit={(event) => {
                event.preventDefault();
                const chosen = new FormData(event.currentTarget).get("team");
                if (typeof chosen === "string" && chosen) void copyToTeam(graph, chosen);
              }}
            >
              <label class="field">
                <span>Copy “{graph.name}” to</span>
                <select name="team" aria-label="Team">
                  {copyTargets.map((team) => (
                    <option value={team.id}>{team.name}</option>
                  ))}
                </select>
              </label>
              <p class="muted small">The team gets its own copy; yours stays here as it is.</p>
              <div class="actions">
                <button type="submit">Copy</button>
                <button type="button" class="quiet" onClick={close}>Cancel</button>
              </div>
            </form>
          ) : editing.form === "rename" ? (
            <CardForm
              label={`Rename ${graph.name}`}
              field="Graph name"
              name="name"
              initial={graph.name}
              submitLabel="Save"
              submit={(value) => rename(graph, value)}
              close={close}
            />
          ) : (
            <CardForm
              label={`Save ${graph.name} as an agent`}
              intro={`Save “${graph.name}” as the agent`}
              field="Agent name"
              name="agent-name"
              initial={graph.name}
              submitLabel="Save as agent"
              submit={(value) => saveAsAgent(graph, value)}
              close={close}
            />
          )}
        </li>
      );
    }
    const pending = graph.pending_changes;
    return (
      <li data-graph-id={graph.id} key={graph.id}>
        <div class="details">
          <strong class="name">{graph.name}</strong>
          <span class="counts">{`${count(graph.node_count, "node")} · ${count(graph.edge_count, "edge")}`}</span>
          {pending > 0 && (
            <span class="pending" data-testid="card-sync">
              {pending === 1 ? "1 change not yet synced" : `${pending} changes not yet synced`}
            </span>
          )}
        </div>
        <div class="card-actions">
          <button type="button" onClick={() => attempt(() => api.openGraph(graph.id).then(() => say(null)))}>
            Open in canvas
          </button>
          {writable && (
            <>
              <button type="button" class="quiet" onClick={() => setEditing({ id: graph.id, form: "rename" })}>Rename</button>
              <ActionButton class="quiet" aria-label={`Duplicate ${graph.name}`} onClick={() => duplicate(graph)}>
                Duplicate
              </ActionButton>
            </>
          )}
          <button type="button" class="quiet" aria-label={`History of ${graph.name}`} onClick={() => setEditing({ id: graph.id, form: "history" })}>
            History
          </button>
          <ActionButton class="quiet" aria-label={`Export ${graph.name}`} onClick={() => exportGraph(graph)}>
            Export…
          </ActionButton>
          {writable && (
            <button type="button" class="quiet" aria-label={`Save as agent: ${graph.name}`} onClick={() => setEditing({ id: graph.id, form: "agent" })}>
              Save as agent
            </button>
          )}
          {copyTargets.length > 0 && (
            <button type="button" class="quiet" aria-label={`Copy ${graph.name} to a team`} onClick={() => setEditing({ id: graph.id, form: "team" })}>
              Copy to team…
            </button>
          )}
          {writable && (
            <button type="button" class="quiet danger" aria-label={`Delete ${graph.name}`} onClick={() => void deleteGraph(graph)}>
              Delete…
            </button>
          )}
        </div>
      </li>
    );
  };

  const chooseOrder = (next: GraphOrder) => {
    setOrder(next);
    sessionStorage.setItem(ORDER_KEY, next);
  };
  const clearSearch = () => {
    setQuery("");
    search.current?.focus();
  };
  const shown = graphs ? arrangeGraphs(graphs, query, order) : [];
  // Search and sort once there is a choice to make, and while a search is typed.
  const tools = graphs !== null && (graphs.length > 1 || query !== "");
  return (
    <>
      <header class="bar">
        <h1>Graphs</h1>
        {workspaces && workspaces.teams.length > 0 && (
          <label class="workspace-pick">
            <span>Workspace</span>
            <select aria-label="Workspace" value={workspaces.current ?? ""} onChange={(event) => void switchTo(event.currentTarget.value || null)}>
              <option value="">Personal</option>
              {workspaces.teams.map((team) => (
                <option value={team.id}>{team.name}</option>
              ))}
            </select>
          </label>
        )}
        <SyncPill moved={() => void refresh()} say={say} />
      </header>
      {workspaces && !workspaces.writable && (
        <p class="read-only" data-testid="read-only">
          You are a viewer in {teamName(workspaces.current)}: its graphs open read-only. Ask an admin of the team to make you an editor.
        </p>
      )}
      {writable && (
        <form class="create" aria-label="Create a graph" onSubmit={create}>
          <input
            name="name"
            placeholder="New graph name"
            aria-label="New graph name"
            maxLength={MAX_GRAPH_NAME_CHARS * 2}
            autocomplete="off"
            value={name}
            onInput={(event) => setName(event.currentTarget.value)}
          />
          <button type="submit" disabled={creating}>Create graph</button>
          <ActionButton class="quiet" data-testid="import-graph" onClick={importGraph}>Import graph…</ActionButton>
        </form>
      )}
      <Notice said={said} />
      {/* An empty library opens on the templates; otherwise they fold away under the form. */}
      {writable && graphs !== null && graphs.length > 0 && (
        <details class="templates" ref={moreTemplates}>
          <summary>New from a template</summary>
          <TemplateGallery templates={templates} use={addTemplate} />
        </details>
      )}
      {tools && (
        <div class="list-tools" role="search" aria-label="Find graphs">
          <input
            ref={search}
            type="search"
            name="search"
            placeholder="Search graphs"
            aria-label="Search graphs"
            autocomplete="off"
            value={query}
            onInput={(event) => setQuery(event.currentTarget.value)}
            onKeyDown={(event) => {
              if (event.key === "Escape" && query !== "") {
                event.preventDefault();
                setQuery("");
              }
            }}
          />
          <label class="sort">
            <span>Sort</span>
            <select name="order" aria-label="Sort graphs" value={order} onChange={(event) => chooseOrder(event.currentTarget.value as GraphOrder)}>
              {ORDERS.map(([value, label]) => (
                <option value={value}>{label}</option>
              ))}
            </select>
          </label>
          {/* Read out as the list narrows. */}
          <span class="visually-hidden" role="status">
            {query.trim() && `${shown.length} of ${count(graphs.length, "graph")} match`}
          </span>
        </div>
      )}
      <ul class="graphs" aria-label="Graphs">{shown.map(card)}</ul>
      {tools && shown.length === 0 && (
        <div class="no-match" data-testid="no-match">
          <p>No graphs match “{query.trim()}”</p>
          <button type="button" class="quiet" onClick={clearSearch}>Clear search</button>
        </div>
      )}
      {graphs?.length === 0 && !writable && <p class="muted">This team has no graphs yet.</p>}
      {writable && graphs?.length === 0 && (
        <section class="empty welcome" aria-labelledby="templates-title">
          <h2 id="templates-title">Start from a template</h2>
          <p>
            Each is a small team with named agents and real prompts that runs as it is. Or create an empty graph above, or sync to
            bring yours from another device.
          </p>
          <TemplateGallery templates={templates} use={addTemplate} />
        </section>
      )}
      {/* Deleted graphs wait here for RESTORE_DAYS days. */}
      {deleted.length > 0 && (
        <details class="deleted" data-testid="deleted-graphs">
          <summary>Recently deleted ({deleted.length})</summary>
          <ul class="graphs" aria-label="Recently deleted">
            {deleted.map((graph) => (
              <li data-graph-id={graph.id} key={graph.id}>
                <div class="details">
                  <strong class="name">{graph.name}</strong>
                  <span class="counts">
                    {`Deleted ${new Date(graph.deleted_at ?? "").toLocaleDateString()} · ${restoreWindow(graph.deleted_at ?? "")}`}
                  </span>
                </div>
                <ActionButton class="quiet" aria-label={`Restore ${graph.name}`} onClick={() => restore(graph)}>
                  Restore
                </ActionButton>
              </li>
            ))}
          </ul>
        </details>
      )}
    </>
  );
}
