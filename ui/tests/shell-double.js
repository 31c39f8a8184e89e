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
  // window.__shellDoubleSetup = { signedIn: false, providers: [...], role: "admin" } first.
  const setup = window.__shellDoubleSetup ?? {};
  // A library to start with: setup.graphs = [{ name, node_count, updated_at, ... }].
  for (const seed of setup.graphs ?? []) {
    graphs.push({
      id: crypto.randomUUID(), node_count: 0, edge_count: 0, pending_changes: 0, synced_once: true,
      updated_at: "2026-11-01T00:00:00.000Z", deleted_at: null, ...seed,
    });
  }
  // Channels: setup.channels = [{ kind, name, target, target_id, last_messages, ... }].
  const channels = (setup.channels ?? []).map((seed) => ({
    id: crypto.randomUUID(), target: "agent", target_id: crypto.randomUUID(), connected_at: "2026-12-01T09:00:00.000Z",
    webhook_url: `https://sync.orrery.example/v1/hooks/${seed.kind}/01938f2e`, last_messages: [], ...seed,
  }));
  let serverProvider = setup.serverProvider ?? null;
  // Teams (src-tauri/src/commands/teams.rs, as /v1/teams answers): setup.teams
  // = [{ name, role (the user's), members: [{ name, email, role }], invitations:
  // [{ email, role }], plan (its owner's plan key; Free if left out) }];
  // setup.invitationCodes = { code: { name, role } } are
  // invitations mailed to the user (a code used once is refused after).
  const teams = (setup.teams ?? []).map((seed) => ({
    id: crypto.randomUUID(),
    name: seed.name,
    you: seed.role ?? "owner",
    plan: seed.plan,
    joined_at: "2026-11-20T10:00:00.000Z",
    members: (seed.members ?? []).map((member) => ({ user_id: crypto.randomUUID(), added_at: "2026-11-21T10:00:00.000Z", ...member })),
    invitations: (seed.invitations ?? []).map((invitation) => ({ id: crypto.randomUUID(), expires_at: "2026-12-14T10:00:00.000Z", ...invitation })),
  }));
  // The workspace the app works in (null: personal) and the others' graphs.
  let workspace = null;
  const graphsOf = new Map();
  // setup.teams[i].graphs: the team workspace's graphs.
  teams.forEach((team, index) => {
    const seeds = setup.teams[index].graphs ?? [];
    graphsOf.set(team.id, seeds.map((seed) => ({
      id: crypto.randomUUID(), node_count: 0, edge_count: 0, pending_changes: 0, synced_once: true,
      updated_at: "2026-11-01T00:00:00.000Z", deleted_at: null, ...seed,
    })));
  });
  /** A viewer's team refuses changes, as the shell does. */
  const readOnly = () => {
    const here = teams.find((team) => team.id === workspace);
    return here?.you === "viewer"
      ? fail("read_only", `you are a viewer in ${here.name}: you can open its graphs and library but not change them; ask an admin to make you an editor`)
      : null;
  };
  const histories = new Map();
  const historyOf = (graph) => {
    if (!histories.has(graph.id)) {
      histories.set(graph.id, (setup.history?.[graph.name] ?? []).map((point) => ({ id: crypto.randomUUID(), by: "", named: true, ...point })));
    }
    return histories.get(graph.id);
  };
  const restored = new Map();
  const invitationCodes = new Map(Object.entries(setup.invitationCodes ?? {}));
  const TEAM_ROLES = ["owner", "admin", "editor", "viewer"];
  // Whom `role` may manage (the policy engine's rule): below itself; owners everyone.
  const reaches = (role, other) => role === "owner" || TEAM_ROLES.indexOf(role) < TEAM_ROLES.indexOf(other);
  const manages = (role) => role === "owner" || role === "admin";
  // The marketplace (src-tauri/src/commands/marketplace.rs): listings as
  // /v1/marketplace answers them. setup.marketplace = [{ title, kind,
  // description, tags, seller, purchases, rating, rating_count, owned, mine,
  // preview, reviews }]; the first is the newest.
  const market = (setup.marketplace ?? []).map((seed, index) => ({
    id: crypto.randomUUID(), kind: "agent", description: "", tags: [], pricing: "free", price_minor: 0, currency: "usd",
    state: "listed", version: "9f2c1e7a".padEnd(64, "0"), seller: "Grace Hopper", purchases: 0, rating: null, rating_count: 0,
    owned: false, mine: false, created_at: new Date(Date.parse("2026-12-05T12:00:00Z") - index * 86_400_000).toISOString(),
    preview: `${seed.title}\n${seed.description ?? ""}`, reviews: [], your_review: null, item: null, ...seed,
  }));
  const marketPurchases = [...(setup.marketPurchases ?? [])];
  // The user's selling account (setup.seller), their sales report
  // (setup.marketSales), the pages opened in the browser (Checkout,
  // Stripe's forms), the commission an admin sets.
  let seller = { payments: true, connected: false, charges_enabled: false, payouts_enabled: false, details_submitted: false, commission_bps: 2000, ...(setup.seller ?? {}) };
  const marketSales = setup.marketSales ?? { months: [], totals: {}, sales: [], payouts: [] };
  const browserPages = [];
  let commissionBps = setup.commissionBps ?? 2000;
  // Updates: setup.update = { version, notes } is on offer; setup.updateFails
  // = "reason" makes "Install and restart" fail with it after the download.
  const updates = { channel: setup.updateChannel ?? "stable", installed: null, checks: 0 };
  const updateAnswer = () => setup.update
    ? { status: "available", current_version: "0.1.0", version: setup.update.version, notes: setup.update.notes ?? null, pub_date: "2026-12-07T10:00:00Z", message: null }
    : { status: "up_to_date", current_version: "0.1.0", version: null, notes: null, pub_date: null, message: null };
  // Reports about listings for the management window: setup.marketReports.
  let marketReports = [...(setup.marketReports ?? [])];
  const marketView = ({ preview, reviews, your_review, item, ...listing }) => ({ ...listing });
  const users = new Map([
    ["ada@orrery.test", { password: "correct horse battery", failures: 0, account: null }],
  ]);
  const accountFor = (email, name) => ({
    id: crypto.randomUUID(), tenant_id: crypto.randomUUID(), email, email_verified: false, name,
    role: "user", plan: "free", theme: "system", settings: {}, has_password: true, providers: [],
    trial_ends_at: new Date(Date.now() + 14 * 86400e3).toISOString(), trial_days_remaining: 14,
  });
  users.get("ada@orrery.test").account = accountFor("ada@orrery.test", "Ada");
  if (setup.role) users.get("ada@orrery.test").account.role = setup.role;
  let session = setup.signedIn === false ? null : users.get("ada@orrery.test").account;
  const failures = new Map();
  // The server's users as the management window sees them.
  let adminWindowOpened = 0;
  /** The users whose data was exported, in order. */
  const exports = [];
  /** Two windows of days, each a day's movements and the state at its end. */
  const overviewOf = (days) => {
    const end = Date.parse("2026-12-06T00:00:00Z");
    const total = 2 * days;
    const series = [];
    let state = { users_total: 40, mrr_cents: 60_000, paying_subscriptions: 30, trials: 4 };
    for (let index = 0; index < total; index += 1) {
      const day = new Date(end - (total - 1 - index) * 86_400_000).toISOString().slice(0, 10);
      const n = index + 1;
      const point = {
        day, users_new: n % 2, users_deleted: 0, sign_ins: 3 + (n % 4),
        new_mrr_cents: n % 3 === 0 ? 1900 : 0, reactivation_mrr_cents: n % 17 === 0 ? 1900 : 0,
        expansion_mrr_cents: n % 7 === 0 ? 8000 : 0, contraction_mrr_cents: n % 13 === 0 ? 4000 : 0,
        churned_mrr_cents: n % 5 === 0 ? 1900 : 0,
        subscriptions_started: (n % 3 === 0 ? 1 : 0) + (n % 17 === 0 ? 1 : 0), subscriptions_churned: n % 5 === 0 ? 1 : 0,
        trials_started: n % 4 === 0 ? 1 : 0, trials_converted: n % 8 === 0 ? 1 : 0, trials_lost: n % 16 === 0 ? 1 : 0,
        invoices_paid: 1, invoices_failed: n % 9 === 0 ? 1 : 0, runs: 20 + n, run_errors: n % 6, tokens: 4000 * n,
        run_latency_ms: 900 * (20 + n), api_calls: 50,
      };
      const net = point.new_mrr_cents + point.reactivation_mrr_cents + point.expansion_mrr_cents - point.contraction_mrr_cents - point.churned_mrr_cents;
      state = {
        users_total: state.users_total + point.users_new,
        mrr_cents: state.mrr_cents + net,
        paying_subscriptions: state.paying_subscriptions + point.subscriptions_started - point.subscriptions_churned,
        trials: Math.max(0, state.trials + point.trials_started - point.trials_converted - point.trials_lost),
      };
      series.push({ ...point, ...state });
    }
    const figuresOf = (before, window) => {
      const sum = (key) => window.reduce((total, point) => total + point[key], 0);
      const last = window[window.length - 1];
      const ratio = (a, b) => (b > 0 ? a / b : null);
      const movements = ["new_mrr_cents", "reactivation_mrr_cents", "expansion_mrr_cents", "contraction_mrr_cents", "churned_mrr_cents"];
      const totals = Object.fromEntries(movements.map((key) => [key, sum(key)]));
      return {
        users_total: last.users_total, users_new: sum("users_new"), paying_subscriptions: last.paying_subscriptions, trials: last.trials,
        trial_conversion: ratio(sum("trials_converted"), sum("trials_converted") + sum("trials_lost")),
        mrr_cents: last.mrr_cents, arr_cents: 12 * last.mrr_cents,
        arpu_cents: last.paying_subscriptions > 0 ? Math.floor(last.mrr_cents / last.paying_subscriptions) : null,
        subscriber_churn: ratio(sum("subscriptions_churned"), before.paying_subscriptions + sum("subscriptions_started")),
        revenue_churn: ratio(totals.churned_mrr_cents + totals.contraction_mrr_cents, before.mrr_cents),
        net_new_mrr_cents: totals.new_mrr_cents + totals.reactivation_mrr_cents + totals.expansion_mrr_cents - totals.contraction_mrr_cents - totals.churned_mrr_cents,
        ...totals,
      };
    };
    const previous = series.slice(0, days);
    const window = series.slice(days);
    const start = { users_total: 40, mrr_cents: 60_000, paying_subscriptions: 30, trials: 4 };
    return {
      days, from: window[0].day, to: window[window.length - 1].day,
      figures: figuresOf(previous[previous.length - 1], window),
      previous: figuresOf(start, previous),
      series: window,
    };
  };
  const auditLog = [];
  // The account emails' templates (/v1/admin/mail-templates), as shipped.
  const mailTemplate = (key, variables, subject, text, html) => {
    const shipped = { subject, text, html };
    return { key, variables, edited: false, parts: { ...shipped }, shipped, updated_at: null };
  };
  const mailTemplates = [
    mailTemplate("welcome", ["name"], "Welcome to Orrery", "Hello {{ name }},\n\nyour Orrery account is ready.\n\nThe Orrery team\n", "<p>Hello {{ name }},</p><p>your Orrery account is ready.</p>"),
    mailTemplate("trial_ending", ["name", "plan", "days", "ends_on"], "Your {{ plan }} trial ends in {{ days }} days", "Hello {{ name }},\n\nyour {{ plan }} trial ends on {{ ends_on }}.\n", "<p>Hello {{ name }},</p><p>your {{ plan }} trial ends on {{ ends_on }}.</p>"),
    mailTemplate("trial_ended", ["name", "plan"], "Your {{ plan }} trial has ended", "Hello {{ name }},\n\nyour {{ plan }} trial has ended.\n", "<p>Hello {{ name }},</p><p>your {{ plan }} trial has ended.</p>"),
    mailTemplate("payment_succeeded", ["name", "amount"], "Payment received: {{ amount }}", "Hello {{ name }},\n\nwe received {{ amount }}.\n", "<p>Hello {{ name }},</p><p>we received {{ amount }}.</p>"),
    mailTemplate("payment_failed", ["name", "amount"], "Your payment of {{ amount }} did not go through", "Hello {{ name }},\n\nyour payment of {{ amount }} failed.\n", "<p>Hello {{ name }},</p><p>your payment of {{ amount }} failed.</p>"),
    mailTemplate("plan_changed", ["name", "plan"], "You are now on the {{ plan }} plan", "Hello {{ name }},\n\nyour account is now on the {{ plan }} plan.\n", "<p>Hello {{ name }},</p><p>your account is now on the {{ plan }} plan.</p>"),
    mailTemplate("password_reset", ["name", "code", "minutes"], "Reset your Orrery password", "Hello {{ name }},\n\nyour code: {{ code }}\n", "<p>Hello {{ name }},</p><p><code>{{ code }}</code></p>"),
  ];
  /** What the server's check says of these parts, or null. */
  const checkMail = (template, parts) => {
    for (const [part, source] of Object.entries(parts)) {
      const opened = (source.match(/\{\{/g) ?? []).length;
      const closed = (source.match(/\}\}/g) ?? []).length;
      if (opened !== closed) return `the ${part} of \`${template.key}\` cannot be used: syntax error: unexpected end of input`;
      for (const [, variable] of source.matchAll(/\{\{\s*([a-z_]+)\s*\}\}/g)) {
        if (!template.variables.includes(variable)) {
          const has = template.variables.map((known) => `\`${known}\``).join(", ");
          return `the ${part} of \`${template.key}\` cannot be used: it uses \`${variable}\`, which this email is not given (it has ${has})`;
        }
      }
    }
    return null;
  };
  /** A part with sample values: `<variable>` (escaped in HTML). */
  const fillMail = (source, template, html) =>
    source.replace(/\{\{\s*([a-z_]+)\s*\}\}/g, (_, variable) => (html ? `&lt;${variable}&gt;` : `<${variable}>`));
  // The graphs and users Monitoring lists, with their share of the runs.
  const monitoredGraphs = [
    { graph_id: "3f1c0e52-0000-4000-8000-000000000001", name: "Support triage", tenant_name: "Harbour Support", share: 0.46 },
    { graph_id: "3f1c0e52-0000-4000-8000-000000000002", name: "Lisbon desk", tenant_name: "Ada's workspace", share: 0.31 },
    { graph_id: "3f1c0e52-0000-4000-8000-000000000003", name: "Release notes", tenant_name: "Ada's workspace", share: 0.15 },
    { graph_id: "3f1c0e52-0000-4000-8000-000000000004", name: null, tenant_name: "Grace's workspace", share: 0.08 },
  ];
  const monitoredUsers = [
    { user_id: "6a2d7f10-0000-4000-8000-000000000001", email: "lin@harbour.example", share: 0.46 },
    { user_id: "6a2d7f10-0000-4000-8000-000000000002", email: "ada@orrery.test", share: 0.46 },
    { user_id: "6a2d7f10-0000-4000-8000-000000000003", email: null, share: 0.08 },
  ];
  // Published prompt versions across the server's tenants (/v1/admin/prompts).
  const publishedVersion = (seed) => ({
    tenant_id: "5b0c6f1e-0000-4000-8000-000000000001", tenant_name: "Ada's workspace", prompt_id: "7d9e2c40-0000-4000-8000-000000000001",
    title: "Trip planner", status: "archived", created_at: "2026-11-02T09:00:00.000Z", published_by: null,
    published_by_email: "ada@orrery.test", ...seed,
  });
  const publishedPrompts = setup.publishedPrompts ?? [
    publishedVersion({ version_id: "0193a000-0000-7000-8000-000000000003", status: "active", activated_at: "2026-12-04T16:20:00.000Z",
      content: "Plan a {{days}}-day trip to {{city}} for {{travellers}}. Keep each day to three sights, one long meal and an evening walk; say how to get between them." }),
    publishedVersion({ version_id: "0193a000-0000-7000-8000-000000000002", activated_at: "2026-11-20T10:05:00.000Z",
      content: "Plan a {{days}}-day trip to {{city}}." }),
    publishedVersion({ version_id: "0193a000-0000-7000-8000-000000000001", activated_at: "2026-11-02T09:30:00.000Z",
      content: "Plan a trip to {{city}}." }),
    publishedVersion({ tenant_id: "5b0c6f1e-0000-4000-8000-000000000002", tenant_name: "Harbour Support", prompt_id: "7d9e2c40-0000-4000-8000-000000000002",
      title: "Support triage", version_id: "0193a000-0000-7000-8000-000000000011", status: "active", activated_at: "2026-12-01T08:00:00.000Z",
      published_by_email: "lin@harbour.example",
      content: "You sort incoming support messages for {{product}}. Read the message, decide its urgency (now, today, this week), the team it belongs to (billing, accounts, bugs, how-to) and write one sentence a person could act on. Never promise a refund or a date. If the customer is angry, say so first." }),
  ];
  const extraUsers = (setup.adminUsers ?? []).map((seed) => ({
    id: crypto.randomUUID(), tenant_id: crypto.randomUUID(), name: "", role: "user", plan: "free", status: "active",
    trial_ends_at: null, suspended_at: null, created_at: "2026-11-20T10:00:00.000Z", ...seed,
  }));
  const signedInUser = () => {
    const account = users.get("ada@orrery.test").account;
    return {
      id: account.id, tenant_id: account.tenant_id, email: account.email, name: account.name, role: account.role,
      plan: account.plan, status: "trialing", trial_ends_at: account.trial_ends_at, suspended_at: null,
      created_at: "2026-11-01T09:00:00.000Z",
    };
  };
  let adminSelf = null;
  const serverUsers = () => {
    adminSelf ??= signedInUser();
    return [adminSelf, ...extraUsers];
  };
  const state = () => ({ signed_in: session !== null, account: session ? { ...session } : null, keyring_problem: null });
  const resetCodes = new Map();
  // As GET /v1/plans answers: orrery_domain::policy::Plan whole.
  const plan = (key, name, price_cents, limits) => ({
    key, name, price_cents, currency: "usd", interval: "month", limits, api_keys: key !== "free", trial_days: key === "free" ? 0 : 14,
    agents: key === "free" ? { kind: "only", agents: ["helper", "researcher"] } : { kind: "all" },
    channels: key === "free" ? [] : key === "pro" ? ["telegram"] : ["telegram", "whatsapp"],
  });
  const plans = [
    plan("free", "Free", 0, { runs: 100, tokens: 200000, api_calls: 0, graphs: 10, nodes_per_graph: 500, seats: 3 }),
    plan("pro", "Pro", 1900, { runs: 5000, tokens: 5000000, api_calls: 10000, graphs: null, nodes_per_graph: 20000, seats: 10 }),
    plan("enterprise", "Enterprise", 9900, { runs: null, tokens: null, api_calls: null, graphs: null, nodes_per_graph: null, seats: null }),
  ];
  const billing = setup.billing ?? {
    billing_enabled: setup.billingEnabled ?? true,
    purchasable_plans: setup.billingEnabled === false ? [] : ["pro", "enterprise"],
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
    settings: {
      kind: "open_ai_compatible", base_url: "http://127.0.0.1:11434/v1", model: "llama3.2", api_key_ref: null,
      limits: { connect_timeout_ms: 5000, idle_timeout_ms: 120000, max_attempts: 4 },
    },
    keys: new Map(),
    answering: false,
  };
  // Agents and prompts by id; times step forward so "most recent first" is stable.
  const agents = new Map();
  const prompts = new Map();
  let clock = Date.parse("2026-11-01T00:00:00.000Z");
  const stamp = () => new Date((clock += 1000)).toISOString();
  // Agents and prompts to start with: setup.agents = [{ name, model, ... }],
  // setup.prompts = [{ title, versions: [{ content, status }], ... }]; the
  // last one is the most recently changed.
  for (const seed of setup.agents ?? []) {
    const agent = {
      id: crypto.randomUUID(), description: "", system_prompt: "", model: "", parameters: {}, tools: [], public: false, graph: null,
      ...seed, updated_at: stamp(),
    };
    agents.set(agent.id, agent);
  }
  for (const seed of setup.prompts ?? []) {
    const versions = (seed.versions ?? []).map((version) => {
      const created_at = stamp();
      return { id: crypto.randomUUID(), status: "draft", created_at, activated_at: version.status === "active" ? created_at : null, ...version };
    });
    const prompt = { id: crypto.randomUUID(), project: "", segment: "", description: "", tags: [], validators: [], ...seed, versions, updated_at: stamp() };
    prompts.set(prompt.id, prompt);
  }
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
  const AGENT_FIELDS = ["id", "name", "description", "system_prompt", "model", "parameters", "tools", "public", "graph"];
  const PROMPT_FIELDS = ["id", "title", "project", "segment", "description", "tags", "validators"];
  // Prompt validators (orrery_domain::validator, orrery_runtime::validate).
  const KIND_NAMES = { regex: "regex", length: "length", contains: "contains", json_schema: "JSON schema" };
  const limitProblem = (validator) => {
    const bounded = (what, text) =>
      text.length === 0 ? `${what} is empty` : [...text].length > 1000 ? `${what} is ${[...text].length} characters long; the limit is 1000` : null;
    switch (validator.kind) {
      case "regex":
        return validator.pattern.length === 0 ? "the pattern is empty" : bounded("the pattern", validator.pattern);
      case "length":
        if (validator.min == null && validator.max == null) return "give a minimum, a maximum or both";
        if (validator.min != null && validator.max != null && validator.min > validator.max)
          return `the minimum (${validator.min}) is larger than the maximum (${validator.max})`;
        return null;
      case "contains":
        return validator.text.length === 0 ? "the text to look for is empty" : bounded("the text", validator.text);
      case "json_schema":
        return typeof validator.schema === "boolean" || (typeof validator.schema === "object" && validator.schema !== null && !Array.isArray(validator.schema))
          ? null
          : "a JSON schema is an object (or true / false)";
      default:
        return `unknown kind ${validator.kind}`;
    }
  };
  const checkValidators = (validators) => {
    if (validators.length > 16) return `prompt validators holds ${validators.length} entries; the limit is 16`;
    for (const [index, validator] of validators.entries()) {
      const problem = limitProblem(validator);
      if (problem) return `validator ${index + 1} (${KIND_NAMES[validator.kind] ?? validator.kind}) is not valid: ${problem}`;
      if (validator.kind === "regex") {
        try {
          new RegExp(validator.pattern);
        } catch (error) {
          return `validator ${index + 1}: the regex validator is not valid: ${error.message}`;
        }
      }
    }
    return null;
  };
  const label = (validator) => {
    switch (validator.kind) {
      case "regex":
        return `regex \`${validator.pattern}\``;
      case "length":
        return validator.min != null && validator.max != null
          ? `length ${validator.min}–${validator.max}`
          : validator.min != null
            ? `length ≥ ${validator.min}`
            : `length ≤ ${validator.max}`;
      case "contains":
        return `contains “${validator.text}”`;
      default:
        return "JSON schema";
    }
  };
  const failureOf = (validator, text) => {
    const noun = "the prompt text";
    switch (validator.kind) {
      case "regex":
        return new RegExp(validator.pattern).test(text) ? null : `${noun} does not match the pattern`;
      case "length": {
        const length = [...text].length;
        if (validator.min != null && length < validator.min) return `${noun} is ${length} characters long; the minimum is ${validator.min}`;
        if (validator.max != null && length > validator.max) return `${noun} is ${length} characters long; the maximum is ${validator.max}`;
        return null;
      }
      case "contains": {
        const found = validator.ignore_case ? text.toLowerCase().includes(validator.text.toLowerCase()) : text.includes(validator.text);
        return found ? null : `${noun} does not contain “${validator.text}”`;
      }
      default:
        try {
          JSON.parse(text);
          return null;
        } catch (error) {
          return `${noun} is not JSON (${error.message})`;
        }
    }
  };
  // A prompt as the editor sees it: every version that fails its content checks, with why.
  const promptView = (prompt) => {
    const view = bare(prompt);
    view.checks = {};
    const onContent = prompt.validators.filter((validator) => validator.target === "content");
    for (const version of prompt.versions) {
      const failures = onContent
        .map((validator) => ({ validator: label(validator), reason: failureOf(validator, version.content) }))
        .filter((failure) => failure.reason !== null);
      if (failures.length > 0) view.checks[version.id] = failures;
    }
    return view;
  };
  const librarySummary = (kind, item) => ({
    kind,
    id: item.id,
    title: kind === "agent" ? item.name : item.title,
    summary:
      kind === "agent"
        ? { description: item.description, model: item.model, tools: item.tools, public: item.public, graph: item.graph ?? null }
        : {
            project: item.project, segment: item.segment, description: item.description, tags: item.tags,
            versions: item.versions.length, active_version: item.versions.find((v) => v.status === "active")?.id ?? null,
            validators: item.validators.length,
          },
    pending_changes: 1,
    synced_once: false,
    updated_at: item.updated_at,
  });

  const dialog = { open: null, save: null };
  // The first-run welcome is due only when a test asks for it (setup.firstRun).
  const welcome = { due: setup.firstRun === true, dismissals: 0 };
  // The four templates as orrery_domain::templates::Template::card gives them (a pipeline left to right).
  const pipeline = (labels) => ({
    nodes: labels.map(([kind, label], index) => ({ x: index * 4.5, y: 0, kind, label })),
    edges: labels.slice(1).map((_, index) => [index, index + 1]),
  });
  const templates = [
    { key: "research-team", title: "Research team", summary: "The manager plans; a researcher gathers facts, a writer drafts a short report and a critic checks it against the facts.", agents: ["Researcher", "Writer", "Critic"],
      preview: pipeline([["input", "Question"], ["prompt", "Research brief"], ["agent", "Researcher"], ["agent", "Writer"], ["agent", "Critic"], ["output", "Report"]]) },
    { key: "support-triage", title: "Support triage", summary: "Sorts a customer's message into a category and priority as checked JSON, then drafts a friendly reply.", agents: ["Triage agent", "Reply writer"],
      preview: pipeline([["input", "Customer message"], ["prompt", "Triage ticket"], ["agent", "Triage agent"], ["agent", "Reply writer"], ["output", "Ticket"]]) },
    { key: "code-review", title: "Code review crew", summary: "Two reviewers read a change for security and correctness side by side; a lead merges their notes into one review.", agents: ["Security reviewer", "Correctness reviewer", "Review lead"],
      preview: {
        nodes: [
          { x: 0, y: 0, kind: "input", label: "Pull request" }, { x: 4.5, y: 0, kind: "prompt", label: "Review checklist" },
          { x: 9, y: -1.25, kind: "agent", label: "Security reviewer" }, { x: 9, y: 1.25, kind: "agent", label: "Correctness reviewer" },
          { x: 13.5, y: 0, kind: "agent", label: "Review lead" }, { x: 18, y: 0, kind: "output", label: "Review" },
        ],
        edges: [[0, 1], [1, 2], [1, 3], [2, 4], [3, 4], [4, 5]],
      } },
    { key: "document-extraction", title: "Document extraction", summary: "Pulls a title, date, parties and amount out of a document as checked JSON; a verifier confirms each field against the text.", agents: ["Extractor", "Verifier"],
      preview: pipeline([["input", "Document"], ["prompt", "Extract fields"], ["agent", "Extractor"], ["agent", "Verifier"], ["output", "Record"]]) },
  ];
  const checkName = (name) => {
    if (typeof name !== "string" || name.trim().length === 0) return "graph name must not be empty";
    if ([...name].length > 120) return `graph name is ${[...name].length} characters long; the limit is 120`;
    return null;
  };
  const summary = (graph) => ({ ...graph });
  const commands = {
    list_graphs: () => graphs.filter((graph) => !graph.deleted_at).map(summary),
    list_deleted_graphs: () =>
      graphs
        .filter((graph) => graph.deleted_at)
        .sort((a, b) => b.deleted_at.localeCompare(a.deleted_at))
        .map(summary),
    delete_graph: ({ id }) => {
      const graph = graphs.find((candidate) => candidate.id === id && !candidate.deleted_at);
      if (!graph) return fail("not_found", `graph ${id} is not in the library`);
      graph.deleted_at = new Date().toISOString();
      graph.pending_changes += 1;
      return summary(graph);
    },
    restore_graph: ({ id }) => {
      const graph = graphs.find((candidate) => candidate.id === id);
      if (!graph) return fail("not_found", `graph ${id} is not in the library`);
      graph.deleted_at = null;
      graph.pending_changes += 1;
      return summary(graph);
    },
    about: () => ({
      version: "0.1.0", licence: "MIT OR Apache-2.0", server_url: "http://127.0.0.1:7878",
      links: [{ key: "source", label: "Source code" }, { key: "issues", label: "Report a problem" }, { key: "licences", label: "Licences of the components" }],
      built_with: ["Tauri", "Bevy", "egui", "Loro", "axum", "sqlx", "SQLite", "Tokio", "reqwest"],
    }),
    open_about_link: ({ key }) => (["source", "issues", "licences"].includes(key) ? null : fail("invalid_input", `there is no link “${key}”`)),
    welcome_due: () => welcome.due,
    check_for_update: () => {
      updates.checks += 1;
      const answer = updateAnswer();
      window.__shellDouble.emit("update-state", answer);
      return answer;
    },
    install_update: () => {
      if (!setup.update) return fail("not_found", "no update is waiting; check for updates first");
      const total = 18_874_368;
      for (const downloaded of [4_194_304, 12_582_912, total]) {
        window.__shellDouble.emit("update-progress", { downloaded, total, stage: "downloading" });
      }
      if (setup.updateFails) return fail("update_failed", setup.updateFails);
      window.__shellDouble.emit("update-progress", { downloaded: 0, total: null, stage: "installing" });
      window.__shellDouble.emit("update-progress", { downloaded: 0, total: null, stage: "restarting" });
      updates.installed = setup.update.version;
      return null;
    },
    open_log_folder: () => "/home/ada/.local/share/studio.orrery.desktop/logs",
    update_settings: () => ({ channel: updates.channel, installation: "5b0e7f3a-8d1c-4e2f-9a6b-0c1d2e3f4a5b" }),
    set_update_channel: ({ channel }) => {
      if (!["stable", "beta"].includes(channel)) return fail("invalid_input", `\`${channel}\` is not a channel: stable or beta`);
      updates.channel = channel;
      return { channel, installation: "5b0e7f3a-8d1c-4e2f-9a6b-0c1d2e3f4a5b" };
    },
    dismiss_welcome: () => {
      welcome.due = false;
      welcome.dismissals += 1;
      return null;
    },
    list_templates: () => templates.map((template) => structuredClone(template)),
    add_template: ({ key }) => {
      const template = templates.find((candidate) => candidate.key === key);
      if (!template) return fail("not_found", `there is no template “${key}”`);
      const graph = {
        id: crypto.randomUUID(),
        name: template.title,
        node_count: template.preview.nodes.length,
        edge_count: template.preview.edges.length,
        pending_changes: 1,
        synced_once: false,
        updated_at: new Date().toISOString(),
        deleted_at: null,
      };
      graphs.unshift(graph);
      return summary(graph);
    },
    duplicate_graph: ({ id }) => {
      const graph = graphs.find((candidate) => candidate.id === id && !candidate.deleted_at);
      if (!graph) return fail("not_found", `graph ${id} is not in the library`);
      const copy = {
        ...graph,
        id: crypto.randomUUID(),
        name: `${[...graph.name].slice(0, 113).join("").trimEnd()} (copy)`,
        pending_changes: 1,
        synced_once: false,
        updated_at: new Date().toISOString(),
      };
      graphs.unshift(copy);
      return summary(copy);
    },
    create_graph: ({ name }) => {
      const refused = readOnly();
      if (refused) return refused;
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
        deleted_at: null,
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
    billing_overview: () => {
      if (!session) return fail("signed_out", "sign in first");
      // In a team's workspace: its plan (setup.teams[i].plan, else Free) and seats.
      const here = teams.find((team) => team.id === workspace);
      if (!here) return { ...billing, team: null };
      const teamPlan = billing.plans.find((each) => each.key === (here.plan ?? "free")) ?? billing.plans[0];
      const used = here.members.length + 1 + here.invitations.length;
      return {
        ...billing,
        team: {
          name: here.name,
          role: here.you,
          usage: { plan: teamPlan, period_resets_at: billing.usage.period_resets_at, metrics: [{ metric: "seats", used, limit: teamPlan.limits.seats ?? null }] },
        },
      };
    },
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
      if (agent.graph && !graphs.some((graph) => graph.id === agent.graph)) return fail("not_found", `graph ${agent.graph} is not in the library`);
      const saved = { ...agent, graph: agent.graph ?? null, id: agent.id ?? crypto.randomUUID(), name: agent.name.trim(), updated_at: stamp() };
      agents.set(saved.id, saved);
      return bare(saved);
    },
    save_graph_as_agent: ({ graph, name, description }) => {
      if (!/^[0-9a-f-]{36}$/.test(graph)) return fail("invalid_input", `\`${graph}\` is not a graph id`);
      const source = graphs.find((candidate) => candidate.id === graph);
      if (!source) return fail("not_found", `graph ${graph} is not in the library`);
      const chosen = name.trim() || source.name.trim();
      if ([...agents.values()].some((agent) => agent.name.trim().toLowerCase() === chosen.toLowerCase()))
        return fail("invalid_input", `an agent named “${chosen}” exists already: choose another name`);
      const saved = {
        id: crypto.randomUUID(), name: chosen, description, system_prompt: "", model: "", parameters: {}, tools: [],
        public: false, graph, updated_at: stamp(),
      };
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
    get_prompt: ({ id }) => (prompts.has(id) ? promptView(prompts.get(id)) : fail("not_found", `prompt ${id} is not in the library`)),
    save_prompt: ({ prompt }) => {
      const unknown = Object.keys(prompt).find((key) => !PROMPT_FIELDS.includes(key));
      if (unknown) return fail("internal", `invalid args \`prompt\`: unknown field \`${unknown}\``);
      const problem = checkItemName("prompt title", prompt.title);
      if (problem) return fail("invalid_input", problem);
      if (prompt.id !== null && !prompts.has(prompt.id)) return fail("not_found", `prompt ${prompt.id} is not in the library`);
      const versions = prompt.id ? prompts.get(prompt.id).versions : [];
      const validators = prompt.validators ?? (prompt.id ? prompts.get(prompt.id).validators : []);
      const refused = checkValidators(validators);
      if (refused) return fail("invalid_input", refused);
      const saved = { ...prompt, validators, id: prompt.id ?? crypto.randomUUID(), title: prompt.title.trim(), versions, updated_at: stamp() };
      prompts.set(saved.id, saved);
      return promptView(saved);
    },
    duplicate_prompt: ({ id }) => {
      if (!prompts.has(id)) return fail("not_found", `prompt ${id} is not in the library`);
      const copy = { ...structuredClone(prompts.get(id)), id: crypto.randomUUID(), updated_at: stamp() };
      copy.title = `${copy.title} (copy)`;
      copy.versions = copy.versions.map((version) => ({ ...version, id: crypto.randomUUID() }));
      prompts.set(copy.id, copy);
      return promptView(copy);
    },
    add_prompt_version: ({ id, content }) => {
      if (!prompts.has(id)) return fail("not_found", `prompt ${id} is not in the library`);
      if ([...content].length > 100000) return fail("invalid_input", "prompt content is too long");
      const prompt = prompts.get(id);
      prompt.versions.push({ id: crypto.randomUUID(), content, status: "draft", created_at: stamp(), activated_at: null });
      prompt.updated_at = stamp();
      return promptView(prompt);
    },
    publish_prompt_version: ({ id, version }) => {
      if (!prompts.has(id)) return fail("not_found", `prompt ${id} is not in the library`);
      const prompt = prompts.get(id);
      const chosen = prompt.versions.find((candidate) => candidate.id === version);
      if (!chosen) return fail("invalid_input", `prompt version ${version} is not in the prompt`);
      const failures = promptView(prompt).checks[version];
      if (failures) {
        const number = prompt.versions.indexOf(chosen) + 1;
        const said = failures.map((failure) => `${failure.validator} validator: ${failure.reason}`).join("; ");
        return fail("invalid_input", `version ${number} fails the prompt's checks and was not published: ${said}`);
      }
      for (const other of prompt.versions) if (other.status === "active") other.status = "archived";
      chosen.status = "active";
      chosen.activated_at = stamp();
      prompt.updated_at = stamp();
      return promptView(prompt);
    },
    // The model provider (src-tauri/src/commands/library.rs); keys stay here.
    // The Channels screen: the tenant's bots on the server, as /v1/channels
    // answers them (setup.channels seeds connected ones with their messages),
    // and the provider the server calls (setup.serverProvider).
    list_teams: () => {
      if (!session) return fail("signed_out", "sign in first");
      return teams.map((team) => ({ id: team.id, name: team.name, role: team.you, members: team.members.length + 1, joined_at: team.joined_at }));
    },
    create_team: ({ name }) => {
      if (!session) return fail("signed_out", "sign in first");
      if (!name.trim()) return fail("invalid_input", "the team's name must not be empty");
      teams.push({ id: crypto.randomUUID(), name: name.trim(), you: "owner", joined_at: new Date().toISOString(), members: [], invitations: [] });
      return commands.list_teams();
    },
    team_people: ({ team }) => {
      const found = teams.find((each) => each.id === team);
      if (!found) return fail("not_found", "no such team among yours");
      const you = { user_id: session.id, name: session.name, email: session.email, role: found.you, added_at: found.joined_at };
      const order = (a, b) => TEAM_ROLES.indexOf(a.role) - TEAM_ROLES.indexOf(b.role) || a.added_at.localeCompare(b.added_at);
      return {
        role: found.you,
        members: [you, ...found.members].sort(order),
        invitations: manages(found.you) ? found.invitations.map((each) => ({ ...each })) : [],
      };
    },
    invite_to_team: ({ team, email, role }) => {
      const found = teams.find((each) => each.id === team);
      if (!found) return fail("not_found", "no such team among yours");
      const address = email.trim().toLowerCase();
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(address)) return fail("invalid_input", "email must be an address like name@example.com");
      if (!manages(found.you)) return fail("forbidden", `your role in this team is ${found.you}; only its owners and admins manage members`);
      if (!reaches(found.you, role)) return fail("forbidden", `your role in this team is ${found.you}: admins invite editors and viewers; only an owner can invite someone as ${role}`);
      if (address === session.email || found.members.some((member) => member.email === address)) return fail("conflict", `${address} is already a member of this team`);
      found.invitations.unshift({ id: crypto.randomUUID(), email: address, role, expires_at: new Date(Date.now() + 7 * 86400e3).toISOString() });
      return commands.team_people({ team });
    },
    revoke_team_invitation: ({ team, invitation }) => {
      const found = teams.find((each) => each.id === team);
      const at = found?.invitations.findIndex((each) => each.id === invitation) ?? -1;
      if (at < 0) return fail("not_found", "no pending invitation of this team has that id");
      found.invitations.splice(at, 1);
      return commands.team_people({ team });
    },
    change_team_role: ({ team, user, role }) => {
      const found = teams.find((each) => each.id === team);
      const member = found?.members.find((each) => each.user_id === user);
      if (!member) return fail("not_found", "that person is not a member of this team");
      if (!manages(found.you) || !reaches(found.you, member.role) || !reaches(found.you, role)) {
        return fail("forbidden", `your role in this team is ${found.you}: admins change editors and viewers between those two roles; only an owner can make a ${member.role} into a ${role}`);
      }
      member.role = role;
      return commands.team_people({ team });
    },
    remove_team_member: ({ team, user }) => {
      const found = teams.find((each) => each.id === team);
      if (!found) return fail("not_found", "no such team among yours");
      if (user === session.id) {
        const owners = found.members.filter((each) => each.role === "owner").length + (found.you === "owner" ? 1 : 0);
        if (found.you === "owner" && owners <= 1) return fail("conflict", "a team keeps at least one owner: make someone else an owner first");
        teams.splice(teams.indexOf(found), 1);
        return commands.list_teams();
      }
      const at = found.members.findIndex((each) => each.user_id === user);
      if (at < 0) return fail("not_found", "that person is not a member of this team");
      if (!manages(found.you) || !reaches(found.you, found.members[at].role)) return fail("forbidden", `your role in this team is ${found.you}; only its owners and admins manage members`);
      found.members.splice(at, 1);
      return commands.list_teams();
    },
    // Workspaces: the personal one and each team's, each with its own graphs.
    list_workspaces: () => {
      if (!session) return { current: null, role: null, writable: true, teams: [] };
      const here = teams.find((team) => team.id === workspace);
      return { current: workspace, role: here?.you ?? null, writable: here?.you !== "viewer", teams: commands.list_teams() };
    },
    switch_workspace: ({ team }) => {
      if (team !== null && !teams.some((each) => each.id === team)) return fail("invalid_input", "you are not a member of that team");
      graphsOf.set(workspace, graphs.splice(0, graphs.length));
      graphs.push(...(graphsOf.get(team) ?? []));
      workspace = team;
      return commands.list_workspaces();
    },
    copy_graph_to_team: ({ graph, team }) => {
      const original = graphs.find((each) => each.id === graph);
      const target = teams.find((each) => each.id === team);
      if (!original) return fail("not_found", "no such graph");
      if (!target) return fail("invalid_input", "you are not a member of that team");
      if (target.you === "viewer") return fail("read_only", `you are a viewer in ${target.name}: ask an admin to make you an editor to add graphs`);
      const copy = { ...original, id: crypto.randomUUID(), pending_changes: 0 };
      graphsOf.set(team, [...(graphsOf.get(team) ?? []), copy]);
      return { ...copy };
    },
    // A graph's history (src-tauri/src/shell/history.rs): setup.history =
    // { [graph name]: [{ name, at, by, named, diff: { added_nodes, ... }, labels }] },
    // newest first. Saving adds a named version; restoring remembers the undo.
    graph_history: ({ graph }) => {
      const found = graphs.find((each) => each.id === graph);
      if (!found) return fail("not_found", `graph ${graph} is not in the library`);
      return historyOf(found).map(({ diff, labels, ...point }) => ({ ...point }));
    },
    save_graph_version: ({ graph, name }) => {
      const refused = readOnly();
      if (refused) return refused;
      const found = graphs.find((each) => each.id === graph);
      if (!found) return fail("not_found", `graph ${graph} is not in the library`);
      const problem = checkName(name);
      if (problem) return fail("invalid_input", problem);
      historyOf(found).unshift({ id: crypto.randomUUID(), name: name.trim(), at: "2026-12-07T12:00:00.000Z", by: session?.name ?? "", named: true, diff: null, labels: {} });
      return commands.graph_history({ graph });
    },
    graph_diff: ({ graph, from }) => {
      const found = graphs.find((each) => each.id === graph);
      const point = found && historyOf(found).find((each) => each.id === from);
      if (!point) return fail("invalid_input", `graph ${graph} has no version \`${from}\``);
      const empty = { renamed: null, added_nodes: [], removed_nodes: [], moved_nodes: [], relabelled_nodes: [], added_edges: [], removed_edges: [] };
      return { diff: { ...empty, ...(point.diff ?? {}) }, labels: point.labels ?? {} };
    },
    // Opening a version (or a comparison) on the canvas: remembered for tests.
    show_graph_version: ({ graph, version, later }) => {
      const found = graphs.find((each) => each.id === graph);
      for (const id of [version, later].filter(Boolean)) {
        if (!(found && historyOf(found).some((each) => each.id === id))) return fail("invalid_input", `this graph has no version ${id}`);
      }
      return null;
    },
    restore_graph_version: ({ graph, version }) => {
      const refused = readOnly();
      if (refused) return refused;
      const found = graphs.find((each) => each.id === graph);
      const point = found && historyOf(found).find((each) => each.id === version);
      if (!point) return fail("invalid_input", `graph ${graph} has no version \`${version}\``);
      restored.set(graph, version);
      return true;
    },
    // The versions of library prompts the graph's prompt nodes name:
    // setup.promptHistory = { [graph name]: [{ id, title, versions: [...] }] }.
    graph_prompt_history: ({ graph }) => {
      const found = graphs.find((each) => each.id === graph);
      if (!found) return fail("not_found", `graph ${graph} is not in the library`);
      return setup.promptHistory?.[found.name] ?? [];
    },
    undo_restore: ({ graph }) => {
      if (!restored.delete(graph)) return fail("invalid_input", "there is no restore of this graph to undo");
      return null;
    },
    accept_team_invitation: ({ code }) => {
      const key = code.trim().replace(/^orrery:\/\/invite\//, "");
      if (!key.startsWith("oin_")) return fail("invalid_input", "that is not an invitation code: paste the link or the code from the invitation mail");
      const invitation = invitationCodes.get(key);
      if (!invitation) return fail("not_found", "no invitation has that code; check it was pasted whole");
      if (invitation.used) return fail("conflict", "this invitation was already used; ask the team for a new one");
      invitation.used = true;
      const team = { id: crypto.randomUUID(), name: invitation.name, you: invitation.role, joined_at: new Date().toISOString(), members: invitation.members ?? [], invitations: [] };
      team.members = team.members.map((member) => ({ user_id: crypto.randomUUID(), added_at: "2026-11-21T10:00:00.000Z", ...member }));
      teams.push(team);
      return { id: team.id, name: team.name, role: team.you };
    },
    list_channels: () => {
      if (!session) return fail("signed_out", "sign in first");
      // A seeded channel may name the library agent that answers (`agent_name`).
      return channels.map(({ agent_name, ...each }) => ({
        ...each,
        target_id: [...agents.values()].find((agent) => agent.name === agent_name)?.id ?? each.target_id,
      }));
    },
    connect_channel: ({ connection }) => {
      if (!session) return fail("signed_out", "sign in first");
      const { kind } = connection;
      if (kind === "telegram" && !/^\d{1,20}:[A-Za-z0-9_-]{20,100}$/.test(connection.bot_token ?? "")) {
        return fail("refused", "that is not a bot token: BotFather gives one like `123456789:AA…`");
      }
      const id = crypto.randomUUID();
      const target = connection.agent_id ? "agent" : "graph";
      const channel = {
        id, kind, target, target_id: connection.agent_id ?? connection.graph_id,
        name: kind === "telegram" ? "@orrery_helper_bot" : connection.display_number ?? connection.phone_number_id,
        connected_at: "2026-12-06T10:00:00.000Z",
        webhook_url: `https://sync.orrery.example/v1/hooks/${kind}/${id}`,
        last_messages: [],
      };
      const at = channels.findIndex((each) => each.kind === kind);
      if (at >= 0) channels.splice(at, 1);
      channels.push(channel);
      return channels.map((each) => ({ ...each }));
    },
    disconnect_channel: ({ kind }) => {
      const at = channels.findIndex((each) => each.kind === kind);
      if (at < 0) return fail("refused", `no ${kind} channel is connected`);
      channels.splice(at, 1);
      return channels.map((each) => ({ ...each }));
    },
    // The marketplace: search (words in title, description or tags), filters,
    // sorts and pages of 20; getting a listing adds its item to the library.
    market_search: ({ search }) => {
      if (!session) return fail("signed_out", "sign in first");
      const words = (search.query ?? "").toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
      let found = market.filter((listing) => listing.state === "listed").filter((listing) => {
        const text = `${listing.title} ${listing.description} ${listing.tags.join(" ")}`.toLowerCase();
        return words.every((word) => text.split(/[^\p{L}\p{N}]+/u).some((each) => each.startsWith(word)));
      });
      if (search.kind) found = found.filter((listing) => listing.kind === search.kind);
      if (search.free_only) found = found.filter((listing) => listing.pricing === "free");
      for (const tag of search.tags) found = found.filter((listing) => listing.tags.includes(tag));
      if (search.min_rating !== null && search.min_rating !== undefined) found = found.filter((listing) => (listing.rating ?? 0) >= search.min_rating);
      const order = {
        newest: (a, b) => b.created_at.localeCompare(a.created_at),
        most_bought: (a, b) => b.purchases - a.purchases,
        rating: (a, b) => (b.rating ?? 0) - (a.rating ?? 0),
        price_low: (a, b) => a.price_minor - b.price_minor,
        price_high: (a, b) => b.price_minor - a.price_minor,
      }[search.sort ?? "relevance"];
      if (order) found = [...found].sort(order);
      const page = search.page ?? 1;
      return { listings: found.slice((page - 1) * 20, page * 20).map(marketView), total: found.length, page, per_page: 20 };
    },
    market_listing: ({ id }) => {
      const listing = market.find((each) => each.id === id);
      if (!listing || (listing.state !== "listed" && !listing.mine && !listing.owned)) return fail("not_found", "there is no such listing");
      return {
        listing: marketView(listing), preview: listing.preview, reviews: listing.reviews, your_review: listing.your_review,
        versions: [{ version: listing.version, number: 1, created_at: listing.created_at }],
      };
    },
    market_buy: ({ id }) => {
      const listing = market.find((each) => each.id === id);
      if (!listing) return fail("not_found", "there is no such listing");
      if (listing.mine) return fail("conflict", "this is your own listing; it is in your library already");
      if (listing.owned) return fail("conflict", "you have this already; it is in your library");
      if (listing.pricing !== "free" && listing.price_minor > 0) {
        // Paid: one Checkout Session per purchase, opened in the browser;
        // the item comes when Stripe confirms (window.__shellDouble.pay).
        let purchase = marketPurchases.find((each) => each.listing_id === id && each.state === "pending");
        if (!purchase) {
          purchase = {
            id: crypto.randomUUID(), listing_id: id, title: listing.title, kind: listing.kind, version: listing.version, state: "pending",
            amount_minor: listing.price_minor, currency: listing.currency, item_id: null, created_at: "2026-12-06T10:00:00.000Z",
            checkout_url: `https://checkout.stripe.test/c/pay/cs_${marketPurchases.length + 1}`, refunded_at: null, refund_reason: null,
          };
          marketPurchases.unshift(purchase);
        }
        browserPages.push(purchase.checkout_url);
        return { ...purchase };
      }
      listing.owned = true;
      listing.purchases += 1;
      const agent = { id: crypto.randomUUID(), name: listing.title, description: listing.description, system_prompt: "", model: "", parameters: {}, tools: [], public: false, graph: null, updated_at: stamp() };
      agents.set(agent.id, agent);
      const purchase = {
        id: crypto.randomUUID(), listing_id: id, title: listing.title, kind: listing.kind, version: listing.version, state: "paid",
        amount_minor: 0, currency: "usd", item_id: agent.id, created_at: "2026-12-06T10:00:00.000Z",
        checkout_url: null, refunded_at: null, refund_reason: null,
      };
      marketPurchases.unshift(purchase);
      return purchase;
    },
    market_seller: () => ({ ...seller, commission_bps: commissionBps }),
    market_start_selling: () => {
      if (!seller.payments) return fail("not_found", "this server takes no payments: Stripe is not configured");
      seller = { ...seller, connected: true };
      browserPages.push("https://connect.stripe.test/setup/e/acct_000001/1");
      return null;
    },
    market_sales: () => structuredClone(marketSales),
    market_refund: ({ purchaseId, reason }) => {
      const sale = marketSales.sales.find((each) => each.purchase_id === purchaseId);
      if (!sale) return fail("not_found", "there is no such purchase");
      if (sale.state !== "paid") return fail("conflict", "this purchase was refunded already");
      if (reason.trim().length === 0) return fail("invalid_input", "say why you refund it; the buyer sees the reason");
      Object.assign(sale, { state: "refunded", refunded_at: "2026-12-06T12:00:00.000Z", refund_reason: reason });
      const total = marketSales.totals[sale.currency];
      if (total) {
        total.refunds_minor += sale.amount_minor;
        total.fee_minor -= sale.fee_minor;
        total.net_minor -= sale.amount_minor - sale.fee_minor;
      }
      return null;
    },
    admin_market_commission: () => (session?.role === "admin" ? commissionBps : fail("forbidden", "only an admin can do this")),
    admin_set_market_commission: ({ commissionBps: bps }) => {
      if (session?.role !== "admin") return fail("forbidden", "only an admin can do this");
      if (bps > 5000) return fail("invalid_input", "the commission is at most 50%");
      commissionBps = bps;
      return null;
    },
    admin_market_reconcile: () => (session?.role === "admin" ? { settled: 0, delivered: 0, refunded: 0 } : fail("forbidden", "only an admin can do this")),
    market_purchases: () => marketPurchases.map((each) => ({ ...each })),
    market_selling: () => market.filter((listing) => listing.mine).map(marketView),
    market_create_listing: ({ listing }) => {
      if (listing.title.trim().length === 0) return fail("refused", "the title is empty");
      if (listing.description.trim().length === 0) return fail("refused", "the description is empty");
      const bad = listing.tags.find((tag) => !/^[\p{L}\p{N}-]{1,32}$/u.test(tag));
      if (bad) return fail("refused", `a tag is 1 to 32 letters, digits or \`-\` (\`${bad}\` is not)`);
      if (market.some((each) => each.mine && each.item === listing.item_id)) return fail("conflict", "this item is listed already; publish a new version there");
      if (listing.pricing !== "free" && !seller.charges_enabled) return fail("conflict", "selling for money needs a Stripe account: connect one on the Selling tab, or list it free");
      const created = {
        id: crypto.randomUUID(), kind: listing.kind, title: listing.title.trim(), description: listing.description.trim(),
        tags: listing.tags.map((tag) => tag.toLowerCase()), pricing: listing.pricing, price_minor: listing.price_minor, currency: listing.currency, state: "listed",
        version: "4b1d0c3e".padEnd(64, "0"), seller: session.name, purchases: 0, rating: null, rating_count: 0, owned: false, mine: true,
        created_at: "2026-12-06T10:00:00.000Z", preview: listing.title, reviews: [], your_review: null, item: listing.item_id,
      };
      market.unshift(created);
      return marketView(created);
    },
    market_publish_version: ({ id }) => {
      const listing = market.find((each) => each.id === id && each.mine);
      if (!listing) return fail("not_found", "you have no such listing");
      return false;
    },
    market_review: ({ id, rating, body }) => {
      const listing = market.find((each) => each.id === id);
      if (!listing?.owned) return fail("forbidden", "only people who have this listing can review it");
      const review = { author: session.name, rating, body, updated_at: "2026-12-06T10:00:00.000Z" };
      const before = listing.your_review;
      const sum = (listing.rating ?? 0) * listing.rating_count - (before?.rating ?? 0) + rating;
      listing.rating_count += before ? 0 : 1;
      listing.rating = sum / listing.rating_count;
      listing.reviews = [review, ...listing.reviews.filter((each) => each !== before)];
      listing.your_review = review;
      return null;
    },
    market_report: ({ id, reason }) => {
      if (reason.trim().length === 0) return fail("refused", "the reason is empty");
      return market.some((each) => each.id === id) ? null : fail("not_found", "there is no such listing");
    },
    market_delist: ({ id }) => {
      const listing = market.find((each) => each.id === id && each.mine);
      if (!listing) return fail("not_found", "you have no such listing");
      listing.state = "delisted";
      return null;
    },
    admin_market_reports: () => (session?.role === "admin" ? marketReports.map((each) => ({ ...each })) : fail("forbidden", "only an admin can do this")),
    admin_delist_listing: ({ id, reason }) => {
      if (session?.role !== "admin") return fail("forbidden", "only an admin can do this");
      if (!marketReports.some((each) => each.listing_id === id)) return fail("not_found", "there is no listed listing with this id");
      if (reason.trim().length === 0) return fail("refused", "the reason is empty");
      marketReports = marketReports.filter((each) => each.listing_id !== id);
      return null;
    },
    server_provider: () => serverProvider,
    share_provider_with_server: () => {
      const { kind, base_url, model } = provider.settings;
      serverProvider = { mode: "live", kind, base_url, model, has_api_key: provider.keys.has(kind), updated_at: "2026-12-06T10:00:00.000Z" };
      return serverProvider;
    },
    get_provider: () => ({ settings: { ...provider.settings }, has_api_key: provider.keys.has(provider.settings.kind) }),
    save_provider: ({ settings, apiKey }) => {
      if (!/^https?:\/\//.test(settings.base_url)) return fail("invalid_input", "the provider address must be an http or https URL");
      if (settings.model.trim().length === 0) return fail("invalid_input", "name the model to ask");
      if (typeof apiKey === "string") {
        if (apiKey.length === 0) provider.keys.delete(settings.kind);
        else provider.keys.set(settings.kind, apiKey);
      }
      provider.settings = { ...settings, api_key_ref: settings.kind, limits: settings.limits ?? {} };
      return { settings: { ...provider.settings }, has_api_key: provider.keys.has(settings.kind) };
    },
    test_provider: () => {
      const { base_url, model } = provider.settings;
      if (provider.answering) return `OK from ${model}`;
      return fail(
        "offline",
        `No model provider answers at ${base_url}. Start a local one with \`ollama serve\` (and \`ollama pull ${model}\`), or choose another provider on the Providers screen.`,
      );
    },
    // The management window's commands, over the server's users (the
    // signed-in account and setup.adminUsers), as /v1/admin answers them.
    open_admin_window: () => {
      adminWindowOpened += 1;
      return null;
    },
    admin_list_users: ({ query }) => {
      if (!session || session.role !== "admin") return fail("invalid_input", "only an administrator of this server may do that");
      const search = (query.query ?? "").toLowerCase();
      if (search.length > 200) return fail("invalid_input", "search for at most 200 characters");
      const matching = serverUsers().filter(
        (user) =>
          (search === "" || user.email.toLowerCase().includes(search) || user.name.toLowerCase().includes(search)) &&
          (!query.plan || user.plan === query.plan) &&
          (!query.role || user.role === query.role) &&
          (!query.status || user.status === query.status),
      );
      const page = query.page ?? 1;
      const perPage = query.per_page ?? 50;
      return { users: matching.slice((page - 1) * perPage, page * perPage), total: matching.length, page, per_page: perPage };
    },
    admin_get_user: ({ userId }) => {
      if (!session || session.role !== "admin") return fail("invalid_input", "only an administrator of this server may do that");
      const user = serverUsers().find((each) => each.id === userId);
      if (!user) return fail("not_found", "no user has this id");
      return {
        ...user,
        usage: [{ metric: "runs", used: 12, limit: 100 }, { metric: "tokens", used: 3400, limit: 200000 }],
        period_resets_at: "2027-01-01T00:00:00.000Z",
        devices: [{ id: crypto.randomUUID(), device_name: "Laptop", created_at: "2026-12-01T08:00:00.000Z" }],
        api_keys: 1,
        invoices: [],
        recent_admin_actions: auditLog.filter((entry) => entry.target_id === userId).slice(0, 10),
      };
    },
    admin_change_user: ({ userId, change }) => {
      if (!session || session.role !== "admin") return fail("invalid_input", "only an administrator of this server may do that");
      const user = serverUsers().find((each) => each.id === userId);
      if (!user) return fail("not_found", "no user has this id");
      const before = { ...user };
      if (change.change === "plan") {
        if (!plans.some((each) => each.key === change.plan)) return fail("invalid_input", "there is no such plan; GET /v1/plans lists them");
        user.plan = change.plan;
      } else if (change.change === "role") user.role = change.role;
      else if (change.change === "suspend") user.status = "suspended";
      else if (change.change === "reactivate") user.status = "active";
      else if (change.change === "trial") {
        user.trial_ends_at = change.ends_at;
        if (user.status === "active" || user.status === "trialing") user.status = change.ends_at ? "trialing" : "active";
      }
      const entry = {
        seq: auditLog.length + 1, at: "2026-12-06T12:00:00.000Z", actor_email: session.email,
        action: change.change === "revoke_sessions" ? "user.sessions.revoke" : `user.${change.change}`, target_kind: "user", target_id: user.id,
        before, after: { ...user }, address: "127.0.0.1",
      };
      auditLog.unshift(entry);
      return { user: { ...user }, audit: entry };
    },
    admin_audit_log: ({ query }) => {
      if (!session || session.role !== "admin") return fail("invalid_input", "only an administrator of this server may do that");
      const page = query.page ?? 1;
      const perPage = query.per_page ?? 50;
      const matching = auditLog.filter(
        (entry) => (!query.action || entry.action === query.action) && (!query.target || entry.target_id === query.target),
      );
      return { entries: matching.slice((page - 1) * perPage, page * perPage), total: matching.length, page, per_page: perPage };
    },
    // A user's archive goes to the Downloads folder; a deletion removes
    // them from the users the double lists and records it.
    admin_export_user: ({ userId }) => {
      if (!session || session.role !== "admin") return fail("invalid_input", "only an administrator of this server may do that");
      if (!serverUsers().some((user) => user.id === userId)) return fail("not_found", "no user has this id");
      exports.push(userId);
      return `/home/ada/Downloads/orrery-user-${userId}.json`;
    },
    admin_delete_user: ({ userId }) => {
      if (!session || session.role !== "admin") return fail("invalid_input", "only an administrator of this server may do that");
      const index = extraUsers.findIndex((user) => user.id === userId);
      if (index < 0) return fail("not_found", "no user has this id");
      const [user] = extraUsers.splice(index, 1);
      const entry = {
        seq: auditLog.length + 1, at: "2026-12-06T12:00:00.000Z", actor_email: session.email, action: "user.delete",
        target_kind: "user", target_id: user.id, before: { email: user.email, plan: user.plan }, after: null, address: "127.0.0.1",
      };
      auditLog.unshift(entry);
      return entry;
    },
    // The audit log (with the screen's filters) saved in Downloads.
    admin_export_audit_log: ({ query }) => {
      if (!session || session.role !== "admin") return fail("invalid_input", "only an administrator of this server may do that");
      const entries = auditLog.filter(
        (entry) => (!query.action || entry.action === query.action) && (!query.target || entry.target_id === query.target),
      );
      exports.push({ audit: entries.length });
      return "/home/ada/Downloads/orrery-audit-log-2026-12-06-120000.json";
    },
    // GET /v1/admin/tenants: a tenant of one per user (as the server makes
    // them), newest first, searched by name or a member's address.
    admin_list_tenants: ({ query, page }) => {
      if (!session || session.role !== "admin") return fail("invalid_input", "only an administrator of this server may do that");
      const text = (query ?? "").toLowerCase();
      const tenants = serverUsers()
        .map((user, index) => ({
          id: user.tenant_id, name: user.name, created_at: user.created_at,
          members: [{ id: user.id, email: user.email, role: user.role }],
          graphs: index, documents: 2 * index, runs: 10 * index, tokens: 1000 * index, api_calls: 0,
        }))
        .reverse()
        .filter((tenant) => !text || tenant.name.toLowerCase().includes(text) || tenant.members.some((member) => member.email.includes(text)));
      return { tenants: tenants.slice((page - 1) * 25, page * 25), total: tenants.length, page, per_page: 25, period: "2026-12" };
    },
    // /v1/admin/mail-templates: the shipped templates, an admin's edits
    // checked as the server does (every {{ }} closed, only the template's
    // variables), previews rendered with sample values, and the audit log.
    admin_mail_templates: () => {
      if (!session || session.role !== "admin") return fail("invalid_input", "only an administrator of this server may do that");
      return mailTemplates.map((template) => structuredClone(template));
    },
    admin_preview_mail_template: ({ key, subject, text, html }) => {
      const template = mailTemplates.find((each) => each.key === key);
      if (!template) return fail("not_found", `there is no email template \`${key}\``);
      const problem = checkMail(template, { subject, text, html });
      if (problem) return fail("invalid_input", problem);
      return { subject: fillMail(subject, template, false), text: fillMail(text, template, false), html: fillMail(html, template, true) };
    },
    admin_save_mail_template: ({ key, subject, text, html }) => {
      if (!session || session.role !== "admin") return fail("invalid_input", "only an administrator of this server may do that");
      const template = mailTemplates.find((each) => each.key === key);
      if (!template) return fail("not_found", `there is no email template \`${key}\``);
      const problem = checkMail(template, { subject, text, html });
      if (problem) return fail("invalid_input", problem);
      const before = template.edited ? { ...template.parts } : null;
      template.parts = { subject, text, html };
      template.edited = true;
      template.updated_at = "2026-12-06T12:00:00.000Z";
      auditLog.unshift({
        seq: auditLog.length + 1, at: "2026-12-06T12:00:00.000Z", actor_email: session.email, action: "mail_template.put",
        target_kind: "mail_template", target_id: key, before, after: { subject, text, html }, address: "127.0.0.1",
      });
      return structuredClone(template);
    },
    admin_reset_mail_template: ({ key }) => {
      if (!session || session.role !== "admin") return fail("invalid_input", "only an administrator of this server may do that");
      const template = mailTemplates.find((each) => each.key === key);
      if (!template) return fail("not_found", `there is no email template \`${key}\``);
      const before = template.edited ? { ...template.parts } : null;
      template.parts = { ...template.shipped };
      template.edited = false;
      template.updated_at = null;
      auditLog.unshift({
        seq: auditLog.length + 1, at: "2026-12-06T12:00:00.000Z", actor_email: session.email, action: "mail_template.reset",
        target_kind: "mail_template", target_id: key, before, after: null, address: "127.0.0.1",
      });
      return structuredClone(template);
    },
    // GET /v1/admin/monitoring: runs a day over the window (ending
    // 2026-12-06), from a fixed pattern; a graph or a user narrows it to
    // their share, and the totals are the days' sums.
    admin_monitoring: ({ days, graph, user }) => {
      if (!session || session.role !== "admin") return fail("invalid_input", "only an administrator of this server may do that");
      if (![30, 90, 365].includes(days)) return fail("invalid_input", "monitoring covers 30, 90 or 365 days");
      const share = graph ? (monitoredGraphs.find((each) => each.graph_id === graph)?.share ?? 0) : user ? (monitoredUsers.find((each) => each.user_id === user)?.share ?? 0) : 1;
      const end = Date.parse("2026-12-06T00:00:00Z");
      const series = [];
      for (let back = days - 1; back >= 0; back -= 1) {
        const index = 400 - back;
        const runs = setup.noRuns ? 0 : Math.round((40 + 25 * Math.sin(index / 5) + (index % 7 === 0 ? 30 : 0)) * share);
        const errors = Math.round(runs * (index % 11 === 0 ? 0.2 : 0.04));
        series.push({
          day: new Date(end - back * 86400000).toISOString().slice(0, 10), runs, errors, cancelled: index % 13 === 0 && runs > 0 ? 1 : 0,
          tokens: runs * (1800 + (index % 5) * 150), mean_latency_ms: runs === 0 ? 0 : 2400 + (index % 9) * 310,
          max_latency_ms: runs === 0 ? 0 : 9000 + (index % 6) * 2100, cost_nanodollars: runs * 2_100_000,
        });
      }
      const sum = (pick) => series.reduce((total, point) => total + pick(point), 0);
      const runs = sum((point) => point.runs);
      const totals = {
        runs, errors: sum((point) => point.errors), cancelled: sum((point) => point.cancelled), tokens: sum((point) => point.tokens),
        mean_latency_ms: runs === 0 ? 0 : Math.round(sum((point) => point.mean_latency_ms * point.runs) / runs),
        max_latency_ms: Math.max(0, ...series.map((point) => point.max_latency_ms)), cost_nanodollars: sum((point) => point.cost_nanodollars),
      };
      const part = (entry) => ({
        ...entry, runs: Math.round(runs * entry.share), errors: Math.round(totals.errors * entry.share), cancelled: 0,
        tokens: Math.round(totals.tokens * entry.share), mean_latency_ms: totals.mean_latency_ms, max_latency_ms: totals.max_latency_ms,
        cost_nanodollars: Math.round(totals.cost_nanodollars * entry.share),
      });
      const strip = ({ share: _share, ...rest }) => rest;
      return {
        days, from: series[0].day, to: series[series.length - 1].day, totals, series,
        graphs: graph || user || runs === 0 ? [] : monitoredGraphs.map(part).map(strip),
        users: graph || user || runs === 0 ? [] : monitoredUsers.map(part).map(strip),
      };
    },
    // GET /v1/admin/prompts: every tenant's published versions, most
    // recently published first, searched by title, text, tenant or publisher.
    admin_list_prompts: ({ query, page }) => {
      if (!session || session.role !== "admin") return fail("invalid_input", "only an administrator of this server may do that");
      const text = (query ?? "").toLowerCase();
      const found = publishedPrompts
        .filter((version) => version.activated_at !== null)
        .sort((a, b) => b.activated_at.localeCompare(a.activated_at))
        .filter((version) => !text || [version.title, version.content, version.tenant_name, version.published_by_email ?? ""].some((field) => field.toLowerCase().includes(text)));
      return { versions: found.slice((page - 1) * 25, page * 25).map((version) => ({ ...version })), total: found.length, page, per_page: 25 };
    },
    // POST /v1/admin/prompts/{tenant}/{prompt}/rollback: the server's checks,
    // then the version active again, published by the admin, and the audit entry.
    admin_roll_back_prompt: ({ tenantId, promptId, versionId }) => {
      if (!session || session.role !== "admin") return fail("invalid_input", "only an administrator of this server may do that");
      const versions = publishedPrompts.filter((version) => version.tenant_id === tenantId && version.prompt_id === promptId);
      const chosen = versions.find((version) => version.version_id === versionId);
      if (!chosen) return fail("not_found", `prompt ${promptId} has no version ${versionId}`);
      if (chosen.status === "active") return fail("conflict", `version ${versionId} is already the active one`);
      if (chosen.activated_at === null) return fail("invalid_input", `version ${versionId} was never published`);
      const previous = versions.find((version) => version.status === "active") ?? null;
      if (previous) previous.status = "archived";
      chosen.status = "active";
      chosen.activated_at = "2026-12-06T12:00:00.000Z";
      chosen.published_by = session.id ?? null;
      chosen.published_by_email = session.email;
      auditLog.unshift({
        seq: auditLog.length + 1, at: "2026-12-06T12:00:00.000Z", actor_email: session.email, action: "prompt.rollback",
        target_kind: "prompt", target_id: promptId,
        before: { tenant_id: tenantId, title: chosen.title, active_version: previous?.version_id ?? null },
        after: { tenant_id: tenantId, title: chosen.title, active_version: versionId }, address: "127.0.0.1",
      });
      return { version_id: versionId, previous_version_id: previous?.version_id ?? null, activated_at: chosen.activated_at };
    },
    // PUT /v1/admin/plans/{key}: the server's checks, then the plan stored
    // (added or replaced) and the change in the audit log.
    admin_save_plan: ({ plan: saved }) => {
      if (!session || session.role !== "admin") return fail("invalid_input", "only an administrator of this server may do that");
      if (!/^[a-z]{3}$/.test(saved.currency)) return fail("invalid_input", "a price needs its currency: three lower-case letters of ISO 4217, like `usd` or `eur`");
      if (Object.values(saved.limits).some((limit) => limit !== null && (!Number.isInteger(limit) || limit < 0))) {
        return fail("invalid_input", "limits are whole numbers of at least 0");
      }
      const index = plans.findIndex((each) => each.key === saved.key);
      const before = index >= 0 ? { ...plans[index] } : null;
      if (index >= 0) plans[index] = { ...saved };
      else plans.push({ ...saved });
      auditLog.unshift({
        seq: auditLog.length + 1, at: "2026-12-06T12:00:00.000Z", actor_email: session.email, action: "plan.put",
        target_kind: "plan", target_id: saved.key, before, after: { ...saved }, address: "127.0.0.1",
      });
      return { ...saved };
    },
    // The overview as /v1/admin/overview answers it: a year and more of
    // days (ending 2026-12-06) folded from a fixed pattern of subscription
    // changes, and the window's figures by the same definitions.
    admin_overview: ({ days }) => {
      if (!session || session.role !== "admin") return fail("invalid_input", "only an administrator of this server may do that");
      if (![30, 90, 365].includes(days)) return fail("invalid_input", "the overview covers 30, 90 or 365 days");
      return overviewOf(days);
    },
    "plugin:event|listen": ({ event, handler }) => {
      if (!listeners.has(event)) listeners.set(event, []);
      listeners.get(event).push(handler);
      return handler;
    },
    "plugin:event|unlisten": ({ event, eventId }) => {
      const handlers = listeners.get(event) ?? [];
      if (handlers.includes(eventId)) handlers.splice(handlers.indexOf(eventId), 1);
      return null;
    },
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
  // What @tauri-apps/api's unlisten calls before it tells the shell.
  window.__TAURI_EVENT_PLUGIN_INTERNALS__ = {
    unregisterListener(_event, id) {
      delete window[`_${id}`];
    },
  };
  window.__shellDouble = {
    calls,
    dialog,
    welcome,
    graphs,
    agents,
    prompts,
    provider,
    users,
    resetCodes,
    auditLog,
    exports,
    /** The pages the shell opened in the browser (Checkout, Stripe's forms). */
    browserPages,
    /** Updates: the channel, the version installed, checks made. */
    updates,
    /** The marketplace's listings. */
    market,
    /** Stripe confirms the payment of a pending purchase of the listing
     * titled `title`: the item lands in the library, which changes. */
    pay(title) {
      const listing = market.find((each) => each.title === title);
      const purchase = marketPurchases.find((each) => each.listing_id === listing.id && each.state === "pending");
      const agent = { id: crypto.randomUUID(), name: listing.title, description: listing.description, system_prompt: "", model: "", parameters: {}, tools: [], public: false, graph: null, updated_at: stamp() };
      agents.set(agent.id, agent);
      Object.assign(purchase, { state: "paid", item_id: agent.id, checkout_url: null });
      listing.owned = true;
      listing.purchases += 1;
      this.emit("library-changed", "agent");
    },
    /** How many times "Manage" asked for the management window. */
    get adminWindowOpened() {
      return adminWindowOpened;
    },
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
