// A stand-in for the desktop shell's IPC, injected before the page loads.
// It keeps the contract of src-tauri/src/commands.rs (names, arguments,
// results and `{ code, message }` errors) over an in-memory library, and lets
// the test fire shell events. It never ships: only tests/ load it.
(() => {
  const graphs = [];
  const listeners = new Map();
  const calls = [];
  let nextCallback = 1;
  let status = { state: "synced", pending_changes: 0, message: null };
  const fail = (code, message) => Promise.reject({ code, message });
  const checkName = (name) => {
    if (typeof name !== "string" || name.trim().length === 0) return "graph name must not be empty";
    if ([...name].length > 120) return `graph name is ${[...name].length} characters long; the limit is 120`;
    return null;
  };
  const summary = (graph) => ({ ...graph });
  const commands = {
    list_graphs: () => graphs.map(summary),
    create_graph: ({ name }) => {
      const problem = checkName(name);
      if (problem) return fail("invalid_input", problem);
      const graph = {
        id: crypto.randomUUID(),
        name: name.trim(),
        node_count: 0,
        edge_count: 0,
        pending_changes: 1,
        synced_once: false,
        updated_at: new Date().toISOString(),
      };
      graphs.unshift(graph);
      return summary(graph);
    },
    add_sample_graph: ({ nodes }) => {
      if (!Number.isInteger(nodes) || nodes < 1 || nodes > 5000)
        return fail("invalid_input", "a sample graph has between 1 and 5000 nodes");
      const graph = {
        id: crypto.randomUUID(),
        name: "Sample: research team",
        node_count: nodes,
        edge_count: nodes - 1,
        pending_changes: 1,
        synced_once: false,
        updated_at: new Date().toISOString(),
      };
      graphs.unshift(graph);
      return summary(graph);
    },
    rename_graph: ({ id, name }) => {
      const graph = graphs.find((candidate) => candidate.id === id);
      if (!graph) return fail("not_found", `graph ${id} is not in the library`);
      const problem = checkName(name);
      if (problem) return fail("invalid_input", problem);
      graph.name = name.trim();
      return summary(graph);
    },
    open_graph: ({ id }) => {
      if (!graphs.some((graph) => graph.id === id)) return fail("not_found", `graph ${id} is not in the library`);
      return null;
    },
    sync_status: () => status,
    "plugin:event|listen": ({ event, handler }) => {
      if (!listeners.has(event)) listeners.set(event, []);
      listeners.get(event).push(handler);
      return handler;
    },
    "plugin:event|unlisten": () => null,
  };
  window.__TAURI_INTERNALS__ = {
    metadata: { currentWindow: { label: "main" }, currentWebview: { windowLabel: "main", label: "main" } },
    transformCallback(callback) {
      const id = nextCallback++;
      window[`_${id}`] = callback;
      return id;
    },
    unregisterCallback(id) {
      delete window[`_${id}`];
    },
    async invoke(command, args = {}) {
      calls.push({ command, args });
      const implementation = commands[command];
      if (!implementation) return fail("internal", `unknown command ${command}`);
      return implementation(args);
    },
  };
  window.__shellDouble = {
    calls,
    graphs,
    emit(event, payload) {
      if (event === "sync-status") status = payload;
      for (const handler of listeners.get(event) ?? []) window[`_${handler}`]?.({ event, id: 0, payload });
    },
  };
})();
