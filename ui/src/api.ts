// Typed calls to the desktop shell's commands (src-tauri/src/commands.rs).
// The webview talks only to these commands: never to the server, never with tokens.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";

/** One graph as the library lists it (orrery_store::GraphSummary). */
export interface GraphSummary {
  id: string;
  name: string;
  node_count: number;
  edge_count: number;
  pending_changes: number;
  synced_once: boolean;
  updated_at: string;
  /** When it was deleted (RFC 3339), for a deleted graph. */
  deleted_at: string | null;
}

/** A template in the gallery (orrery_domain::templates::TemplateCard). */
export interface TemplateCard {
  key: string;
  title: string;
  summary: string;
  /** Its agents' names, in the order they work. */
  agents: string[];
  /** Its graph in the plane it is laid out in (y up). */
  preview: {
    nodes: { x: number; y: number; kind: "agent" | "prompt" | "tool" | "input" | "output"; label: string }[];
    edges: [number, number][];
  };
}

/** What the About window shows (src-tauri shell::About). */
export interface About {
  version: string;
  licence: string;
  server_url: string;
  links: { key: string; label: string }[];
  built_with: string[];
}

/** Where sync stands (src-tauri shell::SyncStatus). */
export interface SyncStatus {
  state: "synced" | "pending" | "offline" | "signed_out" | "error";
  pending_changes: number;
  message: string | null;
}

/** An error from a command (src-tauri commands::CommandError). */
export interface CommandError {
  code: string;
  message: string;
}

/** The message of whatever a command rejected with. */
export function errorMessage(error: unknown): string {
  if (typeof error === "object" && error !== null && "message" in error) {
    return String((error as CommandError).message);
  }
  return String(error);
}

/** The signed-in user (orrery_account::Account). */
export interface Account {
  id: string;
  tenant_id: string;
  email: string;
  email_verified: boolean;
  name: string;
  role: "user" | "admin";
  plan: string;
  theme: Theme;
  settings: Record<string, unknown>;
  has_password: boolean;
  providers: string[];
  trial_ends_at: string | null;
  trial_days_remaining: number | null;
}

export type Theme = "light" | "dark" | "system";

/** Who is signed in on this device (src-tauri shell::AccountState). Never a token. */
export interface AccountState {
  signed_in: boolean;
  account: Account | null;
  keyring_problem: string | null;
}

/** An OAuth provider the server offers (orrery_account::Provider). */
export interface Provider {
  id: string;
  name: string;
}

export interface ProfileChange {
  name?: string;
  theme?: Theme;
  settings?: Record<string, unknown>;
}

/** A plan on offer (orrery_domain::policy::Plan). */
export interface Plan {
  key: string;
  name: string;
  price_cents: number;
  interval: "month" | "year";
  limits: Record<string, number | null>;
  api_keys: boolean;
  trial_days: number;
}

export interface MetricUsage {
  metric: "runs" | "tokens" | "api_calls" | "graphs";
  used: number;
  limit: number | null;
}

export interface Invoice {
  id: string;
  status: string;
  amount_due: number;
  amount_paid: number;
  currency: string;
  hosted_url: string | null;
  created: string;
}

/** What the billing screen shows (src-tauri shell::BillingOverview). */
export interface BillingOverview {
  plans: Plan[];
  usage: { plan: Plan; period_resets_at: string | null; metrics: MetricUsage[] };
  subscription: { plan: string; status: string; cancel_at_period_end: boolean; current_period_end: string } | null;
  invoices: Invoice[];
  trial_days_remaining: number | null;
  /** Whether the server takes payments at all. */
  billing_enabled: boolean;
  /** Plans the server has a price for. */
  purchasable_plans: string[];
}

/** Agents, prompts and sandbox sessions (orrery_domain::DocumentKind). */
export type DocumentKind = "agent" | "prompt" | "session";

/** One agent, prompt or session as the library lists it (orrery_store::LibrarySummary). */
export interface LibrarySummary {
  kind: DocumentKind;
  id: string;
  title: string;
  summary: Record<string, unknown>;
  pending_changes: number;
  synced_once: boolean;
  updated_at: string;
}

/** An agent (orrery_domain::Agent). */
export interface Agent {
  id: string;
  name: string;
  description: string;
  system_prompt: string;
  model: string;
  parameters: Record<string, unknown>;
  tools: string[];
  public: boolean;
  /** For a custom agent: the graph it runs as its team. */
  graph: string | null;
}

/** What the agent editor saves: no id for a new agent (src-tauri shell::AgentDraft). */
export type AgentDraft = Omit<Agent, "id"> & { id: string | null };

export type VersionStatus = "draft" | "active" | "archived";

/** One version of a prompt (orrery_domain::PromptVersion). */
export interface PromptVersion {
  id: string;
  content: string;
  status: VersionStatus;
  created_at: string;
  activated_at: string | null;
}

/** A prompt and its versions, oldest first (orrery_domain::Prompt). */
export interface Prompt {
  id: string;
  project: string;
  segment: string;
  title: string;
  description: string;
  tags: string[];
  versions: PromptVersion[];
  validators: PromptValidator[];
}

/** What a prompt's validator checks (orrery_domain::ValidatorTarget). */
export type ValidatorTarget = "output" | "content";

/** A check kept on a prompt (orrery_domain::PromptValidator). */
export type PromptValidator = { target: ValidatorTarget } & (
  | { kind: "regex"; pattern: string }
  | { kind: "length"; min: number | null; max: number | null }
  | { kind: "contains"; text: string; ignore_case: boolean }
  | { kind: "json_schema"; schema: unknown }
);

/** Why a text failed one validator (orrery_runtime::ValidationFailure). */
export interface ValidationFailure {
  validator: string;
  reason: string;
}

/** A prompt as the editor shows it, with what its checks say of each
 * version that fails them (src-tauri shell::PromptView). */
export interface PromptView extends Prompt {
  checks: Record<string, ValidationFailure[]>;
}

/** The wire formats the runtime speaks (orrery_runtime::ProviderKind). */
export type ProviderKind = "open_ai_compatible" | "anthropic" | "gemini";

/** One model provider (orrery_runtime::ProviderSettings). */
export interface ProviderSettings {
  kind: ProviderKind;
  base_url: string;
  model: string;
  api_key_ref?: string | null;
  limits?: Record<string, unknown>;
}

/** The provider as the settings screen sees it: never the key (src-tauri shell::ProviderView). */
export interface ProviderView {
  settings: ProviderSettings;
  has_api_key: boolean;
}

/** A prompt's own fields as the editor saves them (src-tauri shell::PromptDraft). */
export type PromptDraft = Omit<Prompt, "id" | "versions" | "validators"> & {
  id: string | null;
  /** Omitted: the validators stay as they are. */
  validators?: PromptValidator[];
};

export const api = {
  listGraphs: () => invoke<GraphSummary[]>("list_graphs"),
  createGraph: (name: string) => invoke<GraphSummary>("create_graph", { name }),
  addSampleGraph: (nodes: number) => invoke<GraphSummary>("add_sample_graph", { nodes }),
  renameGraph: (id: string, name: string) => invoke<GraphSummary>("rename_graph", { id, name }),
  openGraph: (id: string) => invoke<void>("open_graph", { id }),
  /** Deletes a graph; it can be restored for RESTORE_DAYS days. */
  deleteGraph: (id: string) => invoke<GraphSummary>("delete_graph", { id }),
  restoreGraph: (id: string) => invoke<GraphSummary>("restore_graph", { id }),
  listDeletedGraphs: () => invoke<GraphSummary[]>("list_deleted_graphs"),
  duplicateGraph: (id: string) => invoke<GraphSummary>("duplicate_graph", { id }),
  listTemplates: () => invoke<TemplateCard[]>("list_templates"),
  about: () => invoke<About>("about"),
  /** Opens an About link (by its key) in the browser. */
  openAboutLink: (key: string) => invoke<void>("open_about_link", { key }),
  /** Whether the first-run welcome is still to be shown on this device. */
  welcomeDue: () => invoke<boolean>("welcome_due"),
  dismissWelcome: () => invoke<void>("dismiss_welcome"),
  /** Adds a template's graph, and the agents and prompts it names that the library lacks. */
  addTemplate: (key: string) => invoke<GraphSummary>("add_template", { key }),
  /** Asks for a graph file (system dialog) and imports it; null if cancelled. */
  importGraph: () => invoke<GraphSummary | null>("import_graph"),
  /** Asks where to save (system dialog) and writes the graph; the path, or null if cancelled. */
  exportGraph: (id: string) => invoke<string | null>("export_graph", { id }),
  syncStatus: () => invoke<SyncStatus>("sync_status"),
  accountState: () => invoke<AccountState>("account_state"),
  register: (email: string, password: string, name: string) =>
    invoke<AccountState>("register", { email, password, name }),
  signIn: (email: string, password: string) => invoke<AccountState>("sign_in", { email, password }),
  listProviders: () => invoke<Provider[]>("list_providers"),
  signInWithProvider: (provider: string) => invoke<AccountState>("sign_in_with_provider", { provider }),
  signOut: () => invoke<AccountState>("sign_out"),
  updateProfile: (change: ProfileChange) => invoke<AccountState>("update_profile", { ...change }),
  requestPasswordReset: (email: string) => invoke<void>("request_password_reset", { email }),
  confirmPasswordReset: (code: string, password: string) =>
    invoke<void>("confirm_password_reset", { code, password }),
  billingOverview: () => invoke<BillingOverview>("billing_overview"),
  startCheckout: (plan: string) => invoke<void>("start_checkout", { plan }),
  openBillingPortal: () => invoke<void>("open_billing_portal"),
  listLibrary: (kind: DocumentKind) => invoke<LibrarySummary[]>("list_library", { kind }),
  getAgent: (id: string) => invoke<Agent>("get_agent", { id }),
  saveAgent: (agent: AgentDraft) => invoke<Agent>("save_agent", { agent }),
  duplicateAgent: (id: string) => invoke<Agent>("duplicate_agent", { id }),
  /** Saves a graph as a custom agent (a blank name takes the graph's). */
  saveGraphAsAgent: (graph: string, name: string, description: string) =>
    invoke<Agent>("save_graph_as_agent", { graph, name, description }),
  deleteLibraryItem: (kind: DocumentKind, id: string) => invoke<void>("delete_library_item", { kind, id }),
  getPrompt: (id: string) => invoke<PromptView>("get_prompt", { id }),
  savePrompt: (prompt: PromptDraft) => invoke<PromptView>("save_prompt", { prompt }),
  duplicatePrompt: (id: string) => invoke<PromptView>("duplicate_prompt", { id }),
  addPromptVersion: (id: string, content: string) => invoke<PromptView>("add_prompt_version", { id, content }),
  publishPromptVersion: (id: string, version: string) =>
    invoke<PromptView>("publish_prompt_version", { id, version }),
  getProvider: () => invoke<ProviderView>("get_provider"),
  saveProvider: (settings: ProviderSettings, apiKey: string | null) =>
    invoke<ProviderView>("save_provider", { settings, apiKey }),
  testProvider: () => invoke<string>("test_provider"),
  onAccountChanged: (handler: (state: AccountState) => void): Promise<UnlistenFn> =>
    listen<AccountState>("account-changed", (event) => handler(event.payload)),
  /** The canvas asked for a screen (a failed run's "Open Providers"). */
  onOpenScreen: (handler: (screen: string) => void): Promise<UnlistenFn> =>
    listen<string>("open-screen", (event) => handler(event.payload)),
  onLibraryChanged: (handler: () => void): Promise<UnlistenFn> =>
    listen<string>("library-changed", () => handler()),
  /** An agent, prompt or session changed here (a command) or came in by sync. */
  onLibraryItemChanged: (handler: (kind: DocumentKind, id: string) => void): Promise<UnlistenFn> =>
    listen<{ kind: DocumentKind; id: string }>("library-item-changed", (event) =>
      handler(event.payload.kind, event.payload.id),
    ),
  onSyncStatus: (handler: (status: SyncStatus) => void): Promise<UnlistenFn> =>
    listen<SyncStatus>("sync-status", (event) => handler(event.payload)),
};

/** How many days a deleted graph can be restored (src-tauri shell::RESTORE_DAYS). */
export const RESTORE_DAYS = 30;

/** Longest graph name the library accepts (orrery_domain::MAX_NAME_CHARS). */
export const MAX_GRAPH_NAME_CHARS = 120;

/** Limits of orrery_domain::library, checked here before a round trip. */
export const MAX_TITLE_CHARS = 200;
export const MAX_DESCRIPTION_CHARS = 10_000;
export const MAX_PROMPT_CHARS = 100_000;
export const MAX_LIST_ITEMS = 64;
export const MAX_PARAMETERS_BYTES = 16 * 1024;
/** Limits of orrery_domain::validator. */
export const MAX_VALIDATORS_PER_PROMPT = 16;
export const MAX_PATTERN_CHARS = 1_000;
export const MAX_SCHEMA_BYTES = 64 * 1024;

/** Shortest password the server accepts for a new account. */
export const MIN_PASSWORD_CHARS = 8;
/** Longest password the server accepts. */
export const MAX_PASSWORD_CHARS = 128;
