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
  // Accounts: the shell's account commands over in-memory users. A test may set
  // window.__shellDoubleSetup = { signedIn: false, providers: [...] } first.
  const setup = window.__shellDoubleSetup ?? {};
  const users = new Map([
    ["ada@orrery.test", { password: "correct horse battery", failures: 0, account: null }],
  ]);
  const accountFor = (email, name) => ({
    id: crypto.randomUUID(), tenant_id: crypto.randomUUID(), email, email_verified: false, name,
    role: "user", plan: "free", theme: "system", settings: {}, has_password: true, providers: [],
    trial_ends_at: new Date(Date.now() + 14 * 86400e3).toISOString(), trial_days_remaining: 14,
  });
  users.get("ada@orrery.test").account = accountFor("ada@orrery.test", "Ada");
  let session = setup.signedIn === false ? null : users.get("ada@orrery.test").account;
  const failures = new Map();
  const state = () => ({ signed_in: session !== null, account: session ? { ...session } : null, keyring_problem: null });
  const resetCodes = new Map();
  const plan = (key, name, price_cents, limits) => ({
    key, name, price_cents, interval: "month", limits, api_keys: key !== "free", trial_days: key === "free" ? 0 : 14,
  });
  const plans = [
    plan("free", "Free", 0, { runs: 100, tokens: 200000, api_calls: 0, graphs: 10, nodes_per_graph: 500 }),
    plan("pro", "Pro", 1900, { runs: 5000, tokens: 5000000, api_calls: 10000, graphs: null, nodes_per_graph: 20000 }),
    plan("enterprise", "Enterprise", 9900, { runs: null, tokens: null, api_calls: null, graphs: null, nodes_per_graph: null }),
  ];
  const billing = setup.billing ?? {
    plans,
    usage: {
      plan: plans[0],
      period_resets_at: "2026-12-01T00:00:00.000Z",
      metrics: [
        { metric: "runs", used: 40, limit: 100 },
        { metric: "tokens", used: 150000, limit: 200000 },
        { metric: "api_calls", used: 0, limit: 0 },
        { metric: "graphs", used: 9, limit: 10 },
      ],
    },
    subscription: null,
    invoices: [
      { id: "in_1", status: "paid", amount_due: 1900, amount_paid: 1900, currency: "usd", hosted_url: "https://invoice.stripe.test/i/1", created: "2026-10-01T00:00:00.000Z" },
    ],
    trial_days_remaining: 12,
  };
  const fail = (code, message) => Promise.reject({ code, message });
  // The provider settings and the keys "in the keyring" (never returned).
  const provider = {
    settings: { kind: "open_ai_compatible", base_url: "http://127.0.0.1:11434/v1", model: "llama3.2", api_key_ref: null, limits: {} },
    keys: new Map(),
    answering: false,
  };
  // Agents and prompts by id; times step forward so "most recent first" is stable.
  const agents = new Map();
  const prompts = new Map();
  let clock = Date.parse("2026-11-01T00:00:00.000Z");
  const stamp = () => new Date((clock += 1000)).toISOString();
  const checkItemName = (what, name) => {
    if (typeof name !== "string" || name.trim().length === 0) return `${what} must not be empty`;
    if ([...name.trim()].length > 200) return `${what} is ${[...name.trim()].length} characters long; the limit is 200`;
    return null;
  };
  // What the commands return: the item without the double's own bookkeeping.
  const bare = (item) => {
    const copy = structuredClone(item);
    delete copy.updated_at;
    return copy;
  };
  // The fields the real commands accept (they refuse others).
  const AGENT_FIELDS = ["id", "name", "description", "system_prompt", "model", "parameters", "tools", "public"];
  const PROMPT_FIELDS = ["id", "title", "project", "segment", "description", "tags"];
  const librarySummary = (kind, item) => ({
    kind,
    id: item.id,
    title: kind === "agent" ? item.name : item.title,
    summary:
      kind === "agent"
        ? { description: item.description, model: item.model, tools: item.tools, public: item.public }
        : {
            project: item.project, segment: item.segment, description: item.description, tags: item.tags,
            versions: item.versions.length, active_version: item.versions.find((v) => v.status === "active")?.id ?? null,
          },
    pending_changes: 1,
    synced_once: false,
    updated_at: item.updated_at,
  });

  const dialog = { open: null, save: null };
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
    // The system file dialog's answer comes from the test: `dialog.open` is
    // null (cancelled), { error } (the file was refused) or { name, node_count,
    // edge_count }; `dialog.save` is a path or null.
    import_graph: () => {
      const answer = dialog.open;
      if (answer === null) return null;
      if (answer.error) return fail(answer.error.code, answer.error.message);
      const graph = {
        id: crypto.randomUUID(),
        name: answer.name,
        node_count: answer.node_count,
        edge_count: answer.edge_count,
        pending_changes: 1,
        synced_once: false,
        updated_at: new Date().toISOString(),
      };
      graphs.unshift(graph);
      return summary(graph);
    },
    export_graph: ({ id }) => {
      if (!graphs.some((graph) => graph.id === id)) return fail("not_found", `there is no graph ${id}`);
      return dialog.save;
    },
    sync_status: () => status,
    account_state: () => state(),
    billing_overview: () => (session ? billing : fail("signed_out", "sign in first")),
    start_checkout: ({ plan }) => (["pro", "enterprise"].includes(plan) ? null : fail("invalid_input", "only the pro and enterprise plans can be bought")),
    open_billing_portal: () => (billing.subscription ? null : fail("not_found", "there is no billing account yet; subscribe to a plan first")),
    sign_in: ({ email, password }) => {
      const user = users.get(String(email).trim().toLowerCase());
      if (user && user.failures >= 5)
        return fail("locked", "this account is locked for 15 minutes after 5 failed sign-ins; try again later or reset the password");
      if (!user || user.password !== password) {
        if (user) user.failures += 1;
        return fail("unauthorized", "wrong email or password");
      }
      user.failures = 0;
      session = user.account;
      return state();
    },
    register: ({ email, password, name }) => {
      const key = String(email).trim().toLowerCase();
      if (users.has(key)) return fail("conflict", "an account with this email already exists; sign in instead");
      if ([...password].length < 8) return fail("invalid_input", "password must be at least 8 characters");
      const user = { password, failures: 0, account: accountFor(key, name) };
      users.set(key, user);
      session = user.account;
      return state();
    },
    list_providers: () => setup.providers ?? [{ id: "google", name: "Google" }, { id: "github", name: "GitHub" }],
    sign_in_with_provider: ({ provider }) => {
      const user = users.get("ada@orrery.test");
      if (!user.account.providers.includes(provider)) user.account.providers.push(provider);
      session = user.account;
      return state();
    },
    sign_out: () => {
      session = null;
      return state();
    },
    update_profile: ({ name, theme, settings }) => {
      if (!session) return fail("signed_out", "sign in first");
      if (theme !== undefined && !["light", "dark", "system"].includes(theme))
        return fail("invalid_input", "theme must be light, dark or system");
      if (name !== undefined) session.name = name;
      if (theme !== undefined) session.theme = theme;
      if (settings !== undefined) session.settings = settings;
      return state();
    },
    request_password_reset: ({ email }) => {
      const key = String(email).trim().toLowerCase();
      if (users.has(key)) resetCodes.set(`orp_${crypto.randomUUID()}`, key);
      return null;
    },
    confirm_password_reset: ({ code, password }) => {
      const email = resetCodes.get(code);
      if (!email) return fail("invalid_input", "this reset code is invalid, expired or already used; ask for a new one");
      resetCodes.delete(code);
      users.get(email).password = password;
      users.get(email).failures = 0;
      return null;
    },
    // The library's agents and prompts (src-tauri/src/commands/library.rs).
    list_library: ({ kind }) => {
      if (!["agent", "prompt", "session"].includes(kind)) return fail("invalid_input", `unknown library kind \`${kind}\``);
      const items = kind === "agent" ? [...agents.values()] : kind === "prompt" ? [...prompts.values()] : [];
      return items
        .map((item) => librarySummary(kind, item))
        .sort((a, b) => b.updated_at.localeCompare(a.updated_at));
    },
    get_agent: ({ id }) => (agents.has(id) ? bare(agents.get(id)) : fail("not_found", `agent ${id} is not in the library`)),
    save_agent: ({ agent }) => {
      const unknown = Object.keys(agent).find((key) => !AGENT_FIELDS.includes(key));
      if (unknown) return fail("internal", `invalid args \`agent\`: unknown field \`${unknown}\``);
      const problem = checkItemName("agent name", agent.name);
      if (problem) return fail("invalid_input", problem);
      if (agent.id !== null && !agents.has(agent.id)) return fail("not_found", `agent ${agent.id} is not in the library`);
      const saved = { ...agent, id: agent.id ?? crypto.randomUUID(), name: agent.name.trim(), updated_at: stamp() };
      agents.set(saved.id, saved);
      return bare(saved);
    },
    duplicate_agent: ({ id }) => {
      if (!agents.has(id)) return fail("not_found", `agent ${id} is not in the library`);
      const copy = { ...structuredClone(agents.get(id)), id: crypto.randomUUID(), updated_at: stamp() };
      copy.name = `${copy.name} (copy)`;
      agents.set(copy.id, copy);
      return bare(copy);
    },
    delete_library_item: ({ kind, id }) => {
      const items = kind === "agent" ? agents : kind === "prompt" ? prompts : null;
      if (!items) return fail("invalid_input", `unknown library kind \`${kind}\``);
      if (!items.has(id)) return fail("not_found", `${kind} ${id} is not in the library`);
      items.delete(id);
      return null;
    },
    get_prompt: ({ id }) => (prompts.has(id) ? bare(prompts.get(id)) : fail("not_found", `prompt ${id} is not in the library`)),
    save_prompt: ({ prompt }) => {
      const unknown = Object.keys(prompt).find((key) => !PROMPT_FIELDS.includes(key));
      if (unknown) return fail("internal", `invalid args \`prompt\`: unknown field \`${unknown}\``);
      const problem = checkItemName("prompt title", prompt.title);
      if (problem) return fail("invalid_input", problem);
      if (prompt.id !== null && !prompts.has(prompt.id)) return fail("not_found", `prompt ${prompt.id} is not in the library`);
      const versions = prompt.id ? prompts.get(prompt.id).versions : [];
      const saved = { ...prompt, id: prompt.id ?? crypto.randomUUID(), title: prompt.title.trim(), versions, updated_at: stamp() };
      prompts.set(saved.id, saved);
      return bare(saved);
    },
    duplicate_prompt: ({ id }) => {
      if (!prompts.has(id)) return fail("not_found", `prompt ${id} is not in the library`);
      const copy = { ...structuredClone(prompts.get(id)), id: crypto.randomUUID(), updated_at: stamp() };
      copy.title = `${copy.title} (copy)`;
      copy.versions = copy.versions.map((version) => ({ ...version, id: crypto.randomUUID() }));
      prompts.set(copy.id, copy);
      return bare(copy);
    },
    add_prompt_version: ({ id, content }) => {
      if (!prompts.has(id)) return fail("not_found", `prompt ${id} is not in the library`);
      if ([...content].length > 100000) return fail("invalid_input", "prompt content is too long");
      const prompt = prompts.get(id);
      prompt.versions.push({ id: crypto.randomUUID(), content, status: "draft", created_at: stamp(), activated_at: null });
      prompt.updated_at = stamp();
      return bare(prompt);
    },
    publish_prompt_version: ({ id, version }) => {
      if (!prompts.has(id)) return fail("not_found", `prompt ${id} is not in the library`);
      const prompt = prompts.get(id);
      const chosen = prompt.versions.find((candidate) => candidate.id === version);
      if (!chosen) return fail("invalid_input", `prompt version ${version} is not in the prompt`);
      for (const other of prompt.versions) if (other.status === "active") other.status = "archived";
      chosen.status = "active";
      chosen.activated_at = stamp();
      prompt.updated_at = stamp();
      return bare(prompt);
    },
    // The model provider (src-tauri/src/commands/library.rs); keys stay here.
    get_provider: () => ({ settings: { ...provider.settings }, has_api_key: provider.keys.has(provider.settings.kind) }),
    save_provider: ({ settings, apiKey }) => {
      if (!/^https?:\/\//.test(settings.base_url)) return fail("invalid_input", "the provider address must be an http or https URL");
      if (settings.model.trim().length === 0) return fail("invalid_input", "name the model to ask");
      if (typeof apiKey === "string") {
        if (apiKey.length === 0) provider.keys.delete(settings.kind);
        else provider.keys.set(settings.kind, apiKey);
      }
      provider.settings = { ...settings, api_key_ref: settings.kind, limits: {} };
      return { settings: { ...provider.settings }, has_api_key: provider.keys.has(settings.kind) };
    },
    test_provider: () => {
      const { base_url, model } = provider.settings;
      if (provider.answering) return `OK from ${model}`;
      return fail(
        "offline",
        `No model provider answers at ${base_url}. Start a local one with \`ollama serve\` (and \`ollama pull ${model}\`), or choose another provider in Settings → Providers.`,
      );
    },
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
      const failure = failures.get(command);
      if (failure) return fail(failure.code, failure.message);
      return implementation(args);
    },
  };
  window.__shellDouble = {
    calls,
    dialog,
    graphs,
    agents,
    prompts,
    provider,
    users,
    resetCodes,
    /** Makes `command` fail with `{ code, message }` until cleared with null. */
    failWith(command, error) {
      if (error) failures.set(command, error);
      else failures.delete(command);
    },
    emit(event, payload) {
      if (event === "sync-status") status = payload;
      for (const handler of listeners.get(event) ?? []) window[`_${handler}`]?.({ event, id: 0, payload });
    },
  };
})();
