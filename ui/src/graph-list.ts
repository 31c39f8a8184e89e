// The graph library: list, create, rename, import and export graph files, open
// in the canvas; sync state on top.
import { api, errorMessage, MAX_GRAPH_NAME_CHARS, RESTORE_DAYS, type GraphSummary, type SyncStatus, type TemplateCard } from "./api";
import { element } from "./dom";
import { confirmAction, toast } from "./feedback";
import { templateGallery } from "./templates";

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

export async function mountGraphList(root: HTMLElement): Promise<void> {
  root.replaceChildren();
  const header = element("header", { class: "bar" });
  header.append(element("h1", {}, "Graphs"));
  const pill = element("span", { class: "sync", "data-testid": "sync-status", role: "status" }, "Connecting…");
  header.append(pill);

  const form = element("form", { class: "create", "aria-label": "Create a graph" });
  const nameInput = element("input", {
    name: "name",
    placeholder: "New graph name",
    "aria-label": "New graph name",
    maxlength: String(MAX_GRAPH_NAME_CHARS * 2),
    autocomplete: "off",
  });
  const createButton = element("button", { type: "submit" }, "Create graph");
  const importButton = element("button", { type: "button", class: "quiet" }, "Import graph…");
  form.append(nameInput, createButton, importButton);

  const notice = element("p", { class: "notice", role: "alert", "data-testid": "notice" });
  notice.hidden = true;
  const tools = element("div", { class: "list-tools" });
  const search = element("input", {
    type: "search",
    name: "search",
    placeholder: "Search graphs",
    "aria-label": "Search graphs",
    autocomplete: "off",
  });
  const order = element("select", { name: "order", "aria-label": "Sort graphs" });
  for (const [value, label] of [
    ["recent", "Recently changed"],
    ["name", "Name"],
    ["size", "Most nodes"],
  ] as const) {
    order.append(element("option", { value }, label));
  }
  tools.append(search, order);
  const noMatch = element("p", { class: "empty", "data-testid": "no-match" }, "No graph matches this search.");
  noMatch.hidden = true;
  const list = element("ul", { class: "graphs", "aria-label": "Graphs" });
  // An empty library opens on the templates; otherwise they fold away under the form.
  const empty = element("section", { class: "empty welcome", "aria-labelledby": "templates-title" });
  empty.append(
    element("h2", { id: "templates-title" }, "Start from a template"),
    element(
      "p",
      {},
      "Each is a small team with named agents and real prompts that runs as it is. Or create an empty graph above, or sync to bring yours from another device.",
    ),
  );
  const moreTemplates = element("details", { class: "templates" });
  moreTemplates.append(element("summary", {}, "New from a template"));
  // Deleted graphs wait here for RESTORE_DAYS days.
  const trash = element("details", { class: "deleted", "data-testid": "deleted-graphs" });
  const trashSummary = element("summary", {});
  const trashList = element("ul", { class: "graphs", "aria-label": "Recently deleted" });
  trash.append(trashSummary, trashList);
  trash.hidden = true;
  root.append(header, form, notice, moreTemplates, tools, list, noMatch, empty, trash);

  let graphs: GraphSummary[] = [];
  let deleted: GraphSummary[] = [];
  let editing: string | null = null;
  /** The graph whose "Save as agent" form is open. */
  let savingAsAgent: string | null = null;

  /** Shows a message under the form: a problem (red) or what went well. */
  function showNotice(message: string | null, kind: "bad" | "good" = "bad"): void {
    notice.textContent = message ?? "";
    notice.hidden = message === null;
    notice.dataset.kind = kind;
  }

  /** What the pill showed last, so the cards are re-read when it changes. */
  let shown: Pick<SyncStatus, "state" | "pending_changes"> | null = null;

  function showSync(status: SyncStatus): void {
    pill.textContent = describeSync(status);
    pill.dataset.state = status.state;
    pill.title = status.message ?? "";
    // Each card says whether its graph awaits the server; when the pill
    // moves, those answers may have too, so the cards are read again and
    // never disagree with the pill.
    const changed = shown !== null && (shown.state !== status.state || shown.pending_changes !== status.pending_changes);
    shown = { state: status.state, pending_changes: status.pending_changes };
    if (changed) void refresh();
  }

  function renderRow(graph: GraphSummary): HTMLLIElement {
    const row = element("li", { "data-graph-id": graph.id });
    if (editing === graph.id) {
      const renameForm = element("form", { class: "rename", "aria-label": `Rename ${graph.name}` });
      const input = element("input", { name: "name", "aria-label": "Graph name", autocomplete: "off" });
      input.value = graph.name;
      const save = element("button", { type: "submit" }, "Save");
      const cancel = element("button", { type: "button", class: "quiet" }, "Cancel");
      cancel.addEventListener("click", () => {
        editing = null;
        render();
      });
      input.addEventListener("keydown", (event) => {
        if (event.key === "Escape") {
          editing = null;
          render();
        }
      });
      renameForm.addEventListener("submit", (event) => {
        event.preventDefault();
        const problem = checkGraphName(input.value);
        if (problem) return showNotice(problem);
        void api
          .renameGraph(graph.id, input.value.trim())
          .then(() => {
            editing = null;
            showNotice(null);
            return refresh();
          })
          .catch((error) => showNotice(errorMessage(error)));
      });
      renameForm.append(input, save, cancel);
      row.append(renameForm);
      queueMicrotask(() => input.select());
      return row;
    }
    if (savingAsAgent === graph.id) {
      row.append(saveAsAgentForm(graph));
      return row;
    }
    const details = element("div", { class: "details" });
    details.append(
      element("strong", { class: "name" }, graph.name),
      element(
        "span",
        { class: "counts" },
        `${graph.node_count} ${graph.node_count === 1 ? "node" : "nodes"} · ${graph.edge_count} ${graph.edge_count === 1 ? "edge" : "edges"}`,
      ),
    );
    if (graph.pending_changes > 0) {
      details.append(
        element(
          "span",
          { class: "pending", "data-testid": "card-sync" },
          graph.pending_changes === 1 ? "1 change not yet synced" : `${graph.pending_changes} changes not yet synced`,
        ),
      );
    }
    const open = element("button", { type: "button" }, "Open in canvas");
    open.addEventListener("click", () => {
      void api.openGraph(graph.id).then(() => showNotice(null)).catch((error) => showNotice(errorMessage(error)));
    });
    const rename = element("button", { type: "button", class: "quiet" }, "Rename");
    rename.addEventListener("click", () => {
      editing = graph.id;
      render();
    });
    const exportButton = element("button", { type: "button", class: "quiet", "aria-label": `Export ${graph.name}` }, "Export…");
    exportButton.addEventListener("click", () => {
      exportButton.disabled = true;
      void api
        .exportGraph(graph.id)
        .then((path) => {
          if (path !== null) showNotice(`Saved “${graph.name}” to ${path}.`, "good");
        })
        .catch((error) => showNotice(errorMessage(error)))
        .finally(() => {
          exportButton.disabled = false;
        });
    });
    const asAgent = element("button", { type: "button", class: "quiet", "aria-label": `Save as agent: ${graph.name}` }, "Save as agent");
    asAgent.addEventListener("click", () => {
      savingAsAgent = graph.id;
      editing = null;
      render();
    });
    const duplicate = element("button", { type: "button", class: "quiet", "aria-label": `Duplicate ${graph.name}` }, "Duplicate");
    duplicate.addEventListener("click", () => {
      duplicate.disabled = true;
      void api
        .duplicateGraph(graph.id)
        .then(async (copy) => {
          showNotice(null);
          await refresh();
          toast(`Made “${copy.name}”.`);
        })
        .catch((error) => showNotice(errorMessage(error)))
        .finally(() => {
          duplicate.disabled = false;
        });
    });
    const remove = element("button", { type: "button", class: "quiet danger", "aria-label": `Delete ${graph.name}` }, "Delete…");
    remove.addEventListener("click", () => void deleteGraph(graph));
    const actions = element("div", { class: "card-actions" });
    actions.append(open, rename, duplicate, exportButton, asAgent, remove);
    row.append(details, actions);
    return row;
  }

  async function deleteGraph(graph: GraphSummary): Promise<void> {
    const sure = await confirmAction({
      title: `Delete “${graph.name}”?`,
      body: `It leaves the library on every device you sync. You can restore it from Recently deleted for ${RESTORE_DAYS} days.`,
      confirm: "Delete graph",
      danger: true,
    });
    if (!sure) return;
    try {
      await api.deleteGraph(graph.id);
      showNotice(null);
      await refresh();
      toast(`Deleted “${graph.name}”.`, { action: { label: "Undo", run: () => restore(graph) } });
    } catch (error) {
      showNotice(errorMessage(error));
    }
  }

  async function restore(graph: GraphSummary): Promise<void> {
    try {
      await api.restoreGraph(graph.id);
      await refresh();
      toast(`Restored “${graph.name}”.`);
    } catch (error) {
      showNotice(errorMessage(error));
    }
  }

  function renderDeleted(graph: GraphSummary): HTMLLIElement {
    const row = element("li", { "data-graph-id": graph.id });
    const details = element("div", { class: "details" });
    details.append(
      element("strong", { class: "name" }, graph.name),
      element("span", { class: "counts" }, `Deleted ${new Date(graph.deleted_at ?? "").toLocaleDateString()} · ${restoreWindow(graph.deleted_at ?? "")}`),
    );
    const restoreButton = element("button", { type: "button", class: "quiet", "aria-label": `Restore ${graph.name}` }, "Restore");
    restoreButton.addEventListener("click", () => {
      restoreButton.disabled = true;
      void restore(graph);
    });
    row.append(details, restoreButton);
    return row;
  }

  /** Names the custom agent a graph becomes: an agent node of that name runs the graph's agents. */
  function saveAsAgentForm(graph: GraphSummary): HTMLFormElement {
    const form = element("form", { class: "rename", "aria-label": `Save ${graph.name} as an agent` });
    const input = element("input", { name: "agent-name", "aria-label": "Agent name", autocomplete: "off" });
    input.value = graph.name;
    const save = element("button", { type: "submit" }, "Save as agent");
    const cancel = element("button", { type: "button", class: "quiet" }, "Cancel");
    const close = () => {
      savingAsAgent = null;
      render();
    };
    cancel.addEventListener("click", close);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") close();
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = input.value.trim() || graph.name;
      if ([...name].length > 200) return showNotice("An agent's name is at most 200 characters.");
      save.disabled = true;
      void api
        .saveGraphAsAgent(graph.id, name, `Runs the graph “${graph.name}”.`)
        .then((agent) => {
          close();
          showNotice(
            `Saved as the agent “${agent.name}”. Put an agent node named ${agent.name} in any graph to use it.`,
            "good",
          );
        })
        .catch((error) => showNotice(errorMessage(error)))
        .finally(() => {
          save.disabled = false;
        });
    });
    form.append(element("span", {}, `Save “${graph.name}” as the agent`), input, save, cancel);
    queueMicrotask(() => input.select());
    return form;
  }

  function render(): void {
    const shown = arrangeGraphs(graphs, search.value, order.value as GraphOrder);
    list.replaceChildren(...shown.map(renderRow));
    empty.hidden = graphs.length > 0;
    moreTemplates.hidden = graphs.length === 0;
    tools.hidden = graphs.length < 2;
    noMatch.hidden = graphs.length === 0 || shown.length > 0;
    trash.hidden = deleted.length === 0;
    trashSummary.textContent = `Recently deleted (${deleted.length})`;
    trashList.replaceChildren(...deleted.map(renderDeleted));
  }

  search.addEventListener("input", () => render());
  order.addEventListener("change", () => render());

  async function refresh(): Promise<void> {
    try {
      [graphs, deleted] = await Promise.all([api.listGraphs(), api.listDeletedGraphs()]);
      render();
    } catch (error) {
      showNotice(errorMessage(error));
    }
  }

  importButton.addEventListener("click", () => {
    importButton.disabled = true;
    void api
      .importGraph()
      .then(async (imported) => {
        if (imported === null) return; // cancelled
        showNotice(`Imported “${imported.name}”: ${imported.node_count} nodes, ${imported.edge_count} edges.`, "good");
        await refresh();
      })
      .catch((error) => showNotice(errorMessage(error)))
      .finally(() => {
        importButton.disabled = false;
      });
  });

  async function useTemplate(template: TemplateCard): Promise<void> {
    try {
      const graph = await api.addTemplate(template.key);
      showNotice(null);
      moreTemplates.open = false;
      await refresh();
      toast(`Added “${graph.name}” with its ${template.agents.length} agents.`, {
        action: { label: "Open in canvas", run: () => api.openGraph(graph.id).catch((error) => showNotice(errorMessage(error))) },
      });
    } catch (error) {
      showNotice(errorMessage(error));
    }
  }

  void api
    .listTemplates()
    .then((templates) => {
      empty.append(templateGallery(templates, useTemplate));
      moreTemplates.append(templateGallery(templates, useTemplate));
    })
    .catch((error) => showNotice(errorMessage(error)));

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const problem = checkGraphName(nameInput.value);
    if (problem) return showNotice(problem);
    createButton.disabled = true;
    void api
      .createGraph(nameInput.value.trim())
      .then(() => {
        nameInput.value = "";
        showNotice(null);
        return refresh();
      })
      .catch((error) => showNotice(errorMessage(error)))
      .finally(() => {
        createButton.disabled = false;
      });
  });

  await api.onLibraryChanged(() => void refresh());
  await api.onSyncStatus(showSync);
  await refresh();
  try {
    showSync(await api.syncStatus());
  } catch (error) {
    showNotice(errorMessage(error));
  }
}
