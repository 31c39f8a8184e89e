// The management window (`index.html#admin`, opened by "Manage" or
// `orrery --admin`): the server's figures, its agent runs, users, tenants, plans, published
// prompts, reported marketplace listings, the account emails' templates and its audit log. The server decides
// every call (admins only); this window only shows what it answers.
import { useEffect, useState } from "preact/hooks";
import { api, errorMessage, type AccountState, type AdminUser, type AuditEntry, type Plan, type UserDetail } from "./api";
import { describeAmount, describeInvoiceStatus } from "./billing";
import { Notice, Pages, useNotice } from "./controls";
import { confirmAction, toast } from "./feedback";
import { MailTemplates } from "./mail-templates-admin";
import { MarketplaceAdmin } from "./market-admin";
import { Monitoring } from "./monitoring";
import { Overview } from "./overview";
import { Plans } from "./plans-admin";
import { PromptsAdmin } from "./prompts-admin";
import { Tenants } from "./tenants-admin";
import { applyTheme } from "./theme";

type AdminScreen = "overview" | "monitoring" | "users" | "tenants" | "plans" | "prompts" | "marketplace" | "emails" | "audit";

const SCREENS: [AdminScreen, string][] = [
  ["overview", "Overview"],
  ["monitoring", "Monitoring"],
  ["users", "Users"],
  ["tenants", "Tenants"],
  ["plans", "Plans"],
  ["prompts", "Prompts"],
  ["marketplace", "Marketplace"],
  ["emails", "Emails"],
  ["audit", "Audit log"],
];

const STATUSES = ["active", "trialing", "past_due", "suspended"] as const;
const ROLES = ["user", "admin"] as const;
const PER_PAGE = 25;
/** What the server records admin actions under, in words. */
const AUDIT_ACTIONS: [string, string][] = [
  ["user.plan", "Plan changed"],
  ["user.role", "Role changed"],
  ["user.suspend", "Suspended"],
  ["user.reactivate", "Reactivated"],
  ["user.trial", "Trial changed"],
  ["user.sessions.revoke", "Signed out everywhere"],
  ["user.export", "Data exported"],
  ["user.delete", "Deleted"],
  ["plan.put", "Plan edited"],
  ["prompt.rollback", "Prompt rolled back"],
  ["mail_template.put", "Email edited"],
  ["mail_template.reset", "Email restored"],
  ["listing.delist", "Listing delisted"],
];

/** "past_due" → "Past due". */
function words(key: string): string {
  const text = key.replace(/_/g, " ");
  return text.length === 0 ? text : `${text[0].toUpperCase()}${text.slice(1)}`;
}

/** The window: who manages, and the screens. */
export function AdminApp() {
  const [account, setAccount] = useState<AccountState | null>(null);
  const [screen, setScreen] = useState<AdminScreen>("overview");
  useEffect(() => {
    void api.accountState().then((state) => {
      setAccount(state);
      applyTheme(state.account?.theme ?? "system");
    });
  }, []);
  if (account === null) return null;
  if (account.account?.role !== "admin") {
    return (
      <main class="page">
        <h1>Manage</h1>
        <p data-testid="not-admin">Only an administrator of this server can manage it. Sign in as one in the main window.</p>
      </main>
    );
  }
  return (
    <>
      <header class="frame">
        <div class="frame-inner">
          <strong class="admin-title">Orrery · Manage</strong>
          <nav class="screens" aria-label="Management screens">
            {SCREENS.map(([key, name]) => (
              <button type="button" class="quiet" data-screen={key} aria-current={screen === key} onClick={() => setScreen(key)}>
                {name}
              </button>
            ))}
          </nav>
        </div>
      </header>
      <main class="page">
        {screen === "overview" ? (
          <Overview />
        ) : screen === "monitoring" ? (
          <Monitoring />
        ) : screen === "users" ? (
          <Users self={account.account.id} />
        ) : screen === "tenants" ? (
          <Tenants />
        ) : screen === "plans" ? (
          <Plans />
        ) : screen === "prompts" ? (
          <PromptsAdmin />
        ) : screen === "marketplace" ? (
          <MarketplaceAdmin />
        ) : screen === "emails" ? (
          <MailTemplates />
        ) : (
          <AuditLog />
        )}
      </main>
    </>
  );
}

interface UserFilter {
  query: string;
  plan: string;
  role: string;
  status: string;
  page: number;
}

/** Users: search, filters, pages, and the changes an admin makes to one
 * (not to themselves: the server keeps an admin from locking themselves out). */
function Users({ self }: { self: string }) {
  const [filter, setFilter] = useState<UserFilter>({ query: "", plan: "", role: "", status: "", page: 1 });
  const [plans, setPlans] = useState<Plan[]>([]);
  const [page, setPage] = useState<{ users: AdminUser[]; total: number } | null>(null);
  const [opened, setOpened] = useState<string | null>(null);
  const [said, say] = useNotice();
  const load = (next: UserFilter) =>
    api
      .adminListUsers({
        query: next.query.trim() || null,
        plan: next.plan || null,
        role: next.role || null,
        status: next.status || null,
        sort: null,
        order: null,
        page: next.page,
        per_page: PER_PAGE,
      })
      .then((answer) => setPage({ users: answer.users, total: answer.total }))
      .catch((error) => say(errorMessage(error)));
  useEffect(() => {
    void api.billingOverview().then((overview) => setPlans(overview.plans), () => setPlans([]));
  }, []);
  useEffect(() => {
    void load(filter);
  }, [filter]);
  const update = (change: Partial<UserFilter>) => setFilter((last) => ({ ...last, page: 1, ...change }));
  const pages = page ? Math.max(1, Math.ceil(page.total / PER_PAGE)) : 1;

  const change = async (user: AdminUser, what: Parameters<typeof api.adminChangeUser>[1], done: string) => {
    try {
      await api.adminChangeUser(user.id, what);
      toast(done, { kind: "good" });
      await load(filter);
    } catch (error) {
      say(errorMessage(error));
    }
  };
  const suspend = async (user: AdminUser) => {
    const sure = await confirmAction({
      title: `Suspend ${user.name || user.email}?`,
      body: "They are signed out of every device at once, and their API keys stop working, until you reactivate them.",
      confirm: "Suspend",
      danger: true,
    });
    if (sure) await change(user, { change: "suspend" }, `${user.email} is suspended.`);
  };

  if (opened !== null) {
    const back = () => {
      setOpened(null);
      // The user may have been changed or deleted while open.
      void load(filter);
    };
    return <UserPanel id={opened} self={self} close={back} />;
  }
  return (
    <section aria-label="Users">
      <div class="bar">
        <h1>Users</h1>
        {page && <span class="hint" data-testid="user-count">{`${page.total.toLocaleString("en-US")} ${page.total === 1 ? "user" : "users"}`}</span>}
      </div>
      <form class="admin-filters" role="search" onSubmit={(event) => event.preventDefault()}>
        <label class="field">
          Search
          <input type="search" name="query" maxLength={200} placeholder="Address or name" value={filter.query} onInput={(event) => update({ query: event.currentTarget.value })} />
        </label>
        <label class="field">
          Plan
          <select name="plan" value={filter.plan} onChange={(event) => update({ plan: event.currentTarget.value })}>
            <option value="">Any plan</option>
            {plans.map((plan) => <option value={plan.key}>{plan.name}</option>)}
          </select>
        </label>
        <label class="field">
          Role
          <select name="role" value={filter.role} onChange={(event) => update({ role: event.currentTarget.value })}>
            <option value="">Any role</option>
            {ROLES.map((role) => <option value={role}>{words(role)}</option>)}
          </select>
        </label>
        <label class="field">
          Status
          <select name="status" value={filter.status} onChange={(event) => update({ status: event.currentTarget.value })}>
            <option value="">Any status</option>
            {STATUSES.map((status) => <option value={status}>{words(status)}</option>)}
          </select>
        </label>
      </form>
      <Notice said={said} testId="admin-notice" />
      {page && page.users.length === 0 ? (
        <p class="empty">No user matches these filters.</p>
      ) : (
        <table class="admin-table" aria-label="Users">
          <thead>
            <tr>
              <th>User</th>
              <th>Plan</th>
              <th>Role</th>
              <th>Status</th>
              <th>Registered</th>
              <th><span class="visually-hidden">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {page?.users.map((user) => (
              <tr data-user={user.email} key={user.id}>
                <td>
                  <button type="button" class="link user-open" aria-label={`Open ${user.name || user.email}`} onClick={() => setOpened(user.id)}>
                    {user.name || user.email}
                  </button>
                  <div class="hint">{user.email}</div>
                </td>
                <td>
                  <select aria-label={`Plan of ${user.email}`} value={user.plan} onChange={(event) => void change(user, { change: "plan", plan: event.currentTarget.value }, `${user.email} is on the ${event.currentTarget.value} plan.`)}>
                    {(plans.some((plan) => plan.key === user.plan) ? plans : [...plans, { key: user.plan, name: user.plan } as Plan]).map((plan) => (
                      <option value={plan.key}>{plan.name}</option>
                    ))}
                  </select>
                </td>
                <td>
                  <select aria-label={`Role of ${user.email}`} value={user.role} disabled={user.id === self} title={user.id === self ? "You cannot change your own role" : undefined} onChange={(event) => void change(user, { change: "role", role: event.currentTarget.value }, `${user.email} is now ${words(event.currentTarget.value).toLowerCase()}.`)}>
                    {ROLES.map((role) => <option value={role}>{words(role)}</option>)}
                  </select>
                </td>
                <td><span class="badge" data-status={user.status}>{words(user.status)}</span></td>
                <td>{user.created_at.slice(0, 10)}</td>
                <td>
                  {user.id === self ? (
                    <span class="hint">You</span>
                  ) : user.status === "suspended" ? (
                    <button type="button" class="quiet" onClick={() => void change(user, { change: "reactivate" }, `${user.email} can sign in again.`)}>Reactivate</button>
                  ) : (
                    <button type="button" class="quiet danger" onClick={() => void suspend(user)}>Suspend…</button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pages page={filter.page} pages={pages} go={(next) => setFilter((last) => ({ ...last, page: next }))} />
    </section>
  );
}

const METRICS: Record<string, string> = { runs: "Agent runs", tokens: "Tokens", api_calls: "API calls", graphs: "Graphs" };

/** One user, whole: usage against their plan, devices, API keys, invoices, and what admins did to them. */
function UserPanel({ id, self, close }: { id: string; self: string; close: () => void }) {
  const [user, setUser] = useState<UserDetail | null>(null);
  const [busy, setBusy] = useState(false);
  const [trialEnd, setTrialEnd] = useState("");
  const [said, say] = useNotice();
  useEffect(() => {
    void api.adminGetUser(id).then(setUser, (error) => say(errorMessage(error)));
  }, [id]);
  const exportData = async (user: UserDetail) => {
    setBusy(true);
    try {
      const path = await api.adminExportUser(user.id);
      toast(`${user.email}'s data is saved in ${path}.`);
    } catch (error) {
      say(errorMessage(error));
    } finally {
      setBusy(false);
    }
  };
  /** Applies a change from this page, then shows the user as they are now. */
  const act = async (change: Parameters<typeof api.adminChangeUser>[1], done: string) => {
    setBusy(true);
    try {
      await api.adminChangeUser(id, change);
      toast(done);
      setUser(await api.adminGetUser(id));
    } catch (error) {
      say(errorMessage(error));
    } finally {
      setBusy(false);
    }
  };
  const extendTrial = async (event: Event) => {
    event.preventDefault();
    const day = trialEnd.trim();
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || Number.isNaN(Date.parse(`${day}T23:59:59Z`))) {
      say("Choose the day the trial ends.");
      return;
    }
    const endsAt = `${day}T23:59:59Z`;
    if (Date.parse(endsAt) <= Date.now()) {
      say("A trial cannot end in the past; end it now instead.");
      return;
    }
    await act({ change: "trial", ends_at: endsAt }, `The trial now ends on ${day}.`);
  };
  const signOutEverywhere = async (user: UserDetail) => {
    const sure = await confirmAction({
      title: `Sign ${user.name || user.email} out everywhere?`,
      body: "Every device of theirs is signed out at once and must sign in again. Their API keys keep working.",
      confirm: "Sign out everywhere",
      danger: true,
    });
    if (sure) await act({ change: "revoke_sessions" }, `${user.email} is signed out everywhere.`);
  };
  const deleteUser = async (user: UserDetail) => {
    const sure = await confirmAction({
      title: `Delete ${user.name || user.email}?`,
      body: "Their account, graphs, agents, prompts, sessions, API keys, usage and invoices are removed from the server for good, and every device of theirs is signed out. Export their data first if it may be asked for. The audit log keeps a record of the deletion.",
      confirm: "Delete for good",
      danger: true,
    });
    if (!sure) return;
    setBusy(true);
    try {
      await api.adminDeleteUser(user.id);
      toast(`${user.email} is deleted.`);
      close();
    } catch (error) {
      say(errorMessage(error));
      setBusy(false);
    }
  };
  return (
    <section aria-label="User">
      <button type="button" class="link" onClick={close}>← All users</button>
      <Notice said={said} testId="admin-notice" />
      {user && (
        <>
          <div class="bar">
            <h1>{user.name || user.email}</h1>
            <span class="badge" data-status={user.status}>{words(user.status)}</span>
          </div>
          <div class="card-actions">
            <button type="button" class="quiet" disabled={busy} onClick={() => void exportData(user)}>
              Export data
            </button>
            {user.id !== self && (
              <button type="button" class="quiet danger" disabled={busy} onClick={() => void deleteUser(user)}>
                Delete user…
              </button>
            )}
          </div>
          <dl class="facts" data-testid="user-facts">
            <dt>Email</dt>
            <dd>{user.email}</dd>
            <dt>Plan</dt>
            <dd>{user.plan}</dd>
            <dt>Role</dt>
            <dd>{words(user.role)}</dd>
            <dt>Registered</dt>
            <dd>{user.created_at.slice(0, 10)}</dd>
            <dt>Trial ends</dt>
            <dd>{user.trial_ends_at?.slice(0, 10) ?? "—"}</dd>
            <dt>API keys</dt>
            <dd>{user.api_keys}</dd>
          </dl>
          <h2>Trial and sessions</h2>
          <form class="trial-actions" aria-label="Trial" onSubmit={(event) => void extendTrial(event)} noValidate>
            <label>
              Trial ends on
              <input type="date" value={trialEnd} onInput={(event) => setTrialEnd(event.currentTarget.value)} />
            </label>
            <button type="submit" class="quiet" disabled={busy}>
              {user.status === "trialing" ? "Extend trial" : "Start a trial"}
            </button>
            {user.status === "trialing" && (
              <button type="button" class="quiet" disabled={busy} onClick={() => void act({ change: "trial", ends_at: null }, "The trial has ended.")}>
                End trial now
              </button>
            )}
            <button type="button" class="quiet danger" disabled={busy} onClick={() => void signOutEverywhere(user)}>
              Sign out everywhere…
            </button>
          </form>
          <h2>Usage this period</h2>
          <ul class="plain" aria-label="Usage">
            {user.usage.map((metric) => (
              <li>{`${METRICS[metric.metric] ?? words(metric.metric)}: ${metric.used.toLocaleString("en-US")} of ${metric.limit == null ? "unlimited" : metric.limit.toLocaleString("en-US")}`}</li>
            ))}
          </ul>
          <h2>Signed in on</h2>
          {user.devices.length === 0 ? (
            <p class="empty">No device.</p>
          ) : (
            <ul class="plain" aria-label="Devices">
              {user.devices.map((device) => <li>{`${device.device_name} · since ${device.created_at.slice(0, 10)}`}</li>)}
            </ul>
          )}
          <h2>Invoices</h2>
          {user.invoices.length === 0 ? (
            <p class="empty">No invoice.</p>
          ) : (
            <ul class="plain" aria-label="Invoices">
              {user.invoices.map((invoice) => (
                <li>{`${invoice.created.slice(0, 10)} · ${describeAmount(invoice.amount_due, invoice.currency)} · ${describeInvoiceStatus(invoice.status)}`}</li>
              ))}
            </ul>
          )}
          <h2>What administrators did</h2>
          {user.recent_admin_actions.length === 0 ? (
            <p class="empty">Nothing yet.</p>
          ) : (
            <ul class="plain" aria-label="Admin actions">
              {user.recent_admin_actions.map((entry) => (
                <li>{`${entry.at.slice(0, 16).replace("T", " ")} · ${entry.actor_email} · ${entry.action} ${summary(entry)}`}</li>
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}

/** What changed, in a line: "free → pro", "active → suspended". */
function summary(entry: AuditEntry): string {
  const field = entry.action.split(".")[1] ?? "";
  const before = (entry.before as Record<string, unknown> | null)?.[field === "suspend" || field === "reactivate" ? "status" : field];
  const after = (entry.after as Record<string, unknown> | null)?.[field === "suspend" || field === "reactivate" ? "status" : field];
  return before !== undefined && after !== undefined ? `${String(before)} → ${String(after)}` : "";
}

/** The audit log: every admin action, newest first, append-only on the server. */
function AuditLog() {
  const [page, setPage] = useState(1);
  const [action, setAction] = useState("");
  const [target, setTarget] = useState("");
  const [exporting, setExporting] = useState(false);
  const [log, setLog] = useState<{ entries: AuditEntry[]; total: number } | null>(null);
  const [said, say] = useNotice();
  const filter = () => ({ action: action || null, target: target.trim() || null });
  useEffect(() => {
    void api
      .adminAuditLog({ ...filter(), page, per_page: PER_PAGE })
      .then((answer) => setLog({ entries: answer.entries, total: answer.total }))
      .catch((error) => say(errorMessage(error)));
  }, [page, action, target]);
  const exportLog = async () => {
    setExporting(true);
    try {
      const path = await api.adminExportAuditLog({ ...filter(), page: null, per_page: null });
      toast(`The audit log is saved in ${path}.`);
    } catch (error) {
      say(errorMessage(error));
    } finally {
      setExporting(false);
    }
  };
  const pages = log ? Math.max(1, Math.ceil(log.total / PER_PAGE)) : 1;
  return (
    <section aria-label="Audit log">
      <div class="bar">
        <h1>Audit log</h1>
        <span class="hint">Every administrator's action, as the server recorded it. Nothing here can be edited or removed.</span>
      </div>
      <form class="admin-filters audit" role="search" onSubmit={(event) => event.preventDefault()}>
        <label class="field">
          Action
          <select name="action" value={action} onChange={(event) => {
            setAction(event.currentTarget.value);
            setPage(1);
          }}>
            <option value="">Any action</option>
            {AUDIT_ACTIONS.map(([key, label]) => <option value={key}>{label}</option>)}
          </select>
        </label>
        <label class="field">
          Target
          <input type="search" maxLength={100} placeholder="A user id or a plan key" value={target} onInput={(event) => {
            setTarget(event.currentTarget.value);
            setPage(1);
          }} />
        </label>
        <button type="button" class="quiet" disabled={exporting} onClick={() => void exportLog()}>
          Export…
        </button>
      </form>
      <Notice said={said} testId="admin-notice" />
      {log && log.entries.length === 0 ? (
        <p class="empty">{action || target.trim() ? "No entry records this action." : "No administrator has acted yet."}</p>
      ) : (
        <table class="admin-table" aria-label="Audit log">
          <thead>
            <tr>
              <th>When</th>
              <th>Administrator</th>
              <th>Action</th>
              <th>Target</th>
              <th>Change</th>
              <th>From</th>
            </tr>
          </thead>
          <tbody>
            {log?.entries.map((entry) => (
              <tr data-seq={entry.seq} key={entry.seq}>
                <td>{entry.at.slice(0, 16).replace("T", " ")}</td>
                <td>{entry.actor_email}</td>
                <td><code>{entry.action}</code></td>
                <td>{entry.target_kind === "user" ? (((entry.after ?? entry.before) as Record<string, unknown> | null)?.email as string | undefined) ?? entry.target_id : entry.target_id}</td>
                <td>{summary(entry)}</td>
                <td>{entry.address}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pages page={page} pages={pages} go={setPage} />
    </section>
  );
}
