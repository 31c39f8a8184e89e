// The management window's Plans: every plan with its price, trial, limits,
// agents, channels and API keys; edit one or add one. The form checks what
// it can before sending (whole numbers, no negative limit, a price with its
// currency); the server checks again, applies the change at once to every
// user on the plan, and records it in the audit log.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, errorMessage, type PlanDefinition } from "./api";
import { Notice, useNotice } from "./controls";
import { toast } from "./feedback";

/** Each limit: its field's label, and what it counts in a sentence. */
const LIMITS: [keyof PlanDefinition["limits"], string, string][] = [
  ["runs", "Agent runs a month", "agent runs"],
  ["tokens", "Tokens a month", "tokens"],
  ["api_calls", "API calls a month", "API calls"],
  ["graphs", "Graphs", "graphs"],
  ["nodes_per_graph", "Nodes in one graph", "nodes in one graph"],
  ["seats", "Seats in a team", "seats in a team"],
];
const CHANNELS = ["telegram", "whatsapp"] as const;
const KEY_PATTERN = /^[a-z0-9-]{1,40}$/;

/** "$19.00 a month", "€190.00 a year", "No charge". */
export function describePrice(plan: Pick<PlanDefinition, "price_cents" | "currency" | "interval">): string {
  if (plan.price_cents === 0) return "No charge";
  const amount = (plan.price_cents / 100).toLocaleString("en-US", { style: "currency", currency: plan.currency.toUpperCase() });
  return `${amount} a ${plan.interval}`;
}

function describeLimits(plan: PlanDefinition): string {
  const shown = LIMITS.filter(([key]) => plan.limits[key] != null).map(
    ([key, , counted]) => `${(plan.limits[key] as number).toLocaleString("en-US")} ${counted}`,
  );
  return shown.length === 0 ? "Unlimited" : shown.join(" · ");
}

/** The form's text, before it becomes a plan. */
interface Draft {
  key: string;
  name: string;
  price: string;
  currency: string;
  interval: "month" | "year";
  trial_days: string;
  limits: Record<string, string>;
  api_keys: boolean;
  channels: string[];
  allAgents: boolean;
  agents: string;
}

function draftOf(plan: PlanDefinition | null): Draft {
  return {
    key: plan?.key ?? "",
    name: plan?.name ?? "",
    price: plan ? (plan.price_cents / 100).toFixed(2) : "0.00",
    currency: plan?.currency ?? "usd",
    interval: plan?.interval ?? "month",
    trial_days: String(plan?.trial_days ?? 0),
    limits: Object.fromEntries(LIMITS.map(([key]) => [key, plan?.limits[key] == null ? "" : String(plan.limits[key])])),
    api_keys: plan?.api_keys ?? false,
    channels: plan ? [...plan.channels] : [],
    allAgents: !plan || plan.agents.kind === "all",
    agents: plan && plan.agents.kind === "only" ? plan.agents.agents.join(", ") : "",
  };
}

/** The plan a draft describes, or what is wrong with it. */
export function planOf(draft: Draft): { plan: PlanDefinition } | { problem: string } {
  if (!KEY_PATTERN.test(draft.key)) return { problem: "The key is 1 to 40 of a–z, 0–9 and -." };
  if (draft.name.trim().length === 0 || draft.name.length > 100) return { problem: "The name is 1 to 100 characters." };
  const price = Number(draft.price);
  if (draft.price.trim() === "" || !Number.isFinite(price) || price < 0 || Math.round(price * 100) !== Number((price * 100).toFixed(6))) {
    return { problem: "The price is an amount of at least 0, with at most two decimals." };
  }
  if (price > 100_000) return { problem: "The price is at most 100,000." };
  if (!/^[a-z]{3}$/.test(draft.currency)) return { problem: "A price needs its currency: three letters of ISO 4217, like usd or eur." };
  if (draft.key === "free" && price !== 0) return { problem: "The free plan costs nothing." };
  const trial = Number(draft.trial_days);
  if (!Number.isInteger(trial) || trial < 0 || trial > 365) return { problem: "The trial is 0 to 365 whole days." };
  const limits: Record<string, number | null> = {};
  for (const [key, label] of LIMITS) {
    const text = draft.limits[key].trim();
    if (text === "") {
      limits[key] = null;
      continue;
    }
    const value = Number(text);
    if (!Number.isInteger(value) || value < 0) return { problem: `${label}: a whole number of at least 0, or empty for unlimited.` };
    limits[key] = value;
  }
  const agents = draft.agents
    .split(",")
    .map((agent) => agent.trim())
    .filter((agent) => agent.length > 0);
  if (!draft.allAgents && agents.some((agent) => agent.length > 100)) return { problem: "An agent's name is at most 100 characters." };
  return {
    plan: {
      key: draft.key,
      name: draft.name.trim(),
      price_cents: Math.round(price * 100),
      currency: draft.currency,
      interval: draft.interval,
      trial_days: trial,
      limits: limits as PlanDefinition["limits"],
      api_keys: draft.api_keys,
      channels: draft.channels,
      agents: draft.allAgents ? { kind: "all" } : { kind: "only", agents },
    },
  };
}

/** Plans: the list, and the form for one. */
export function Plans() {
  const [plans, setPlans] = useState<PlanDefinition[] | null>(null);
  const [editing, setEditing] = useState<{ draft: Draft; isNew: boolean } | null>(null);
  const [said, say] = useNotice();
  const form = useRef<HTMLFormElement>(null);
  // The form opens below the list: bring it into view, its first field focused.
  const opened = editing === null ? null : editing.isNew ? "new" : editing.draft.key;
  useEffect(() => {
    if (opened === null) return;
    form.current?.scrollIntoView({ block: "start" });
    form.current?.querySelector<HTMLInputElement>("input:not([readonly])")?.focus({ preventScroll: true });
  }, [opened]);
  const load = () =>
    api
      .billingOverview()
      .then((overview) => setPlans(overview.plans as unknown as PlanDefinition[]))
      .catch((error: unknown) => say(errorMessage(error)));
  useEffect(() => {
    void load();
  }, []);

  const save = async (event: Event) => {
    event.preventDefault();
    if (!editing) return;
    const checked = planOf(editing.draft);
    if ("problem" in checked) {
      say(checked.problem);
      return;
    }
    try {
      const saved = await api.adminSavePlan(checked.plan);
      toast(`The ${saved.name} plan is saved; it applies to its users now.`);
      setEditing(null);
      await load();
    } catch (error) {
      say(errorMessage(error));
    }
  };
  const set = (change: Partial<Draft>) => setEditing((last) => (last ? { ...last, draft: { ...last.draft, ...change } } : last));

  return (
    <section aria-labelledby="plans-title">
      <div class="bar">
        <h1 id="plans-title">Plans</h1>
        <button type="button" onClick={() => setEditing({ draft: draftOf(null), isNew: true })}>New plan</button>
      </div>
      <Notice said={said} testId="plans-notice" />
      {plans === null ? (
        <p class="empty">Loading the plans…</p>
      ) : (
        <table class="admin-table" aria-label="Plans">
          <thead>
            <tr>
              <th>Plan</th>
              <th>Price</th>
              <th>Trial</th>
              <th>Limits</th>
              <th>API keys</th>
              <th>Channels</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {plans.map((plan) => (
              <tr data-plan={plan.key}>
                <td>
                  <strong>{plan.name}</strong>
                  <div class="counts">{plan.key}</div>
                </td>
                <td>{describePrice(plan)}</td>
                <td>{plan.trial_days === 0 ? "—" : `${plan.trial_days} days`}</td>
                <td class="counts">{describeLimits(plan)}</td>
                <td>{plan.api_keys ? "Yes" : "No"}</td>
                <td>{plan.channels.length === 0 ? "—" : plan.channels.join(", ")}</td>
                <td>
                  <button type="button" class="quiet" aria-label={`Edit ${plan.name}`} onClick={() => setEditing({ draft: draftOf(plan), isNew: false })}>
                    Edit
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {editing && (
        <form ref={form} class="plan-form" aria-label={editing.isNew ? "New plan" : `Edit ${editing.draft.name}`} onSubmit={save} noValidate>
          <h2>{editing.isNew ? "New plan" : `Edit ${editing.draft.name}`}</h2>
          <div class="plan-grid">
            <label>
              Key
              <input value={editing.draft.key} readOnly={!editing.isNew} onInput={(e) => set({ key: e.currentTarget.value })} />
            </label>
            <label>
              Name
              <input value={editing.draft.name} onInput={(e) => set({ name: e.currentTarget.value })} />
            </label>
            <label>
              Price
              <input inputMode="decimal" value={editing.draft.price} onInput={(e) => set({ price: e.currentTarget.value })} />
            </label>
            <label>
              Currency
              <input value={editing.draft.currency} maxLength={3} onInput={(e) => set({ currency: e.currentTarget.value.toLowerCase() })} />
            </label>
            <label>
              Billed every
              <select value={editing.draft.interval} onChange={(e) => set({ interval: e.currentTarget.value as Draft["interval"] })}>
                <option value="month">Month</option>
                <option value="year">Year</option>
              </select>
            </label>
            <label>
              Trial days
              <input inputMode="numeric" value={editing.draft.trial_days} onInput={(e) => set({ trial_days: e.currentTarget.value })} />
            </label>
            {LIMITS.map(([key, label]) => (
              <label>
                {label}
                <input
                  inputMode="numeric"
                  placeholder="Unlimited"
                  value={editing.draft.limits[key]}
                  onInput={(e) => set({ limits: { ...editing.draft.limits, [key]: e.currentTarget.value } })}
                />
              </label>
            ))}
          </div>
          <fieldset>
            <legend>Agents</legend>
            <label class="check">
              <input type="radio" name="agents" checked={editing.draft.allAgents} onChange={() => set({ allAgents: true })} />
              Every agent
            </label>
            <label class="check">
              <input type="radio" name="agents" checked={!editing.draft.allAgents} onChange={() => set({ allAgents: false })} />
              Only these (the platform's agents, by name; a user's own and bought agents are always allowed)
            </label>
            {!editing.draft.allAgents && (
              <input aria-label="Agents the plan includes" placeholder="helper, researcher" value={editing.draft.agents} onInput={(e) => set({ agents: e.currentTarget.value })} />
            )}
          </fieldset>
          <fieldset>
            <legend>Channels and keys</legend>
            {CHANNELS.map((channel) => (
              <label class="check">
                <input
                  type="checkbox"
                  checked={editing.draft.channels.includes(channel)}
                  onChange={(e) =>
                    set({
                      channels: e.currentTarget.checked
                        ? [...editing.draft.channels, channel]
                        : editing.draft.channels.filter((each) => each !== channel),
                    })
                  }
                />
                {channel === "telegram" ? "Telegram" : "WhatsApp"}
              </label>
            ))}
            <label class="check">
              <input type="checkbox" checked={editing.draft.api_keys} onChange={(e) => set({ api_keys: e.currentTarget.checked })} />
              API keys
            </label>
          </fieldset>
          <div class="card-actions">
            <button type="submit">Save plan</button>
            <button type="button" class="quiet" onClick={() => setEditing(null)}>Cancel</button>
          </div>
        </form>
      )}
    </section>
  );
}
