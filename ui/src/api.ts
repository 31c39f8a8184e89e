// Typed calls to the desktop shell's commands and events. The types and
// the calls come from `bindings.ts`, generated from the Rust definitions
// (`make bindings`; a test fails while it is out of date). Where Rust holds
// a free-form value (JSON, or a string with few values) the type is narrowed
// here to what the shell sends. The webview talks only to these commands:
// never to the server, never with tokens.
import { invoke } from "@tauri-apps/api/core";
import type { UnlistenFn } from "@tauri-apps/api/event";
import { commands, events } from "./bindings";
import type * as Rust from "./bindings";

// What the shell sends is each type's serialized shape (every field there);
// what the screens send back is that shape too, which the commands take.
export type { About, CommandError, DocumentKind, ProviderKind, ValidationFailure, VersionStatus } from "./bindings";
/** Any JSON value. */
export type JsonValue = Rust.Value;
export type GraphSummary = Rust.GraphSummary_Serialize;
export type Agent = Rust.Agent_Serialize;
export type AgentDraft = Rust.AgentDraft_Serialize;
export type Prompt = Rust.Prompt_Serialize;
export type PromptDraft = Rust.PromptDraft_Serialize;
export type PromptVersion = Rust.PromptVersion_Serialize;
export type PromptValidator = Rust.PromptValidator_Serialize;
export type ValidatorTarget = Rust.ValidatorTarget;
export type PromptView = Rust.PromptView_Serialize;
// A provider's settings as a screen writes them: the limits and the key's
// reference may be left out (the shell keeps its own).
export type ProviderSettings = Rust.ProviderSettings_Deserialize;
export type ProviderView = Rust.ProviderView_Serialize;
export type AdminUser = Rust.AdminUser_Serialize;
export type AuditEntry = Rust.AuditEntry;
export type UserDetail = Rust.UserDetail;
export type AdminOverview = Rust.AdminOverview_Serialize;
export type OverviewDay = Rust.OverviewDay;
export type WindowFigures = Rust.WindowFigures_Serialize;
/** A plan whole, as admins define it (the billing screen reads a narrower view, `Plan`). */
export type PlanDefinition = Rust.Plan_Serialize;
export type AdminTenant = Rust.AdminTenant;
export type PublishedPrompt = Rust.PublishedPrompt_Serialize;
export type RunMonitoring = Rust.RunMonitoring_Serialize;
export type RunFigures = Rust.RunFigures;
export type GraphRuns = Rust.GraphRuns_Serialize;
export type UserRuns = Rust.UserRuns_Serialize;
export type MailTemplate = Rust.MailTemplate_Serialize;
export type MailPreview = Rust.MailParts;
export type Team = Rust.Team;
export type TeamPeople = Rust.TeamPeople;
export type TeamMember = Rust.TeamMember;
export type TeamInvitation = Rust.TeamInvitation;
export type JoinedTeam = Rust.JoinedTeam;
export type Workspaces = Rust.Workspaces_Serialize;
export type HistoryPoint = Rust.HistoryPoint;
export type PromptHistory = Rust.PromptHistory;
export type HistoryDiff = Rust.HistoryDiff_Serialize;
export type Channel = Rust.MessengerChannel;
export type ChannelConnection = Rust.ChannelConnection;
export type ServerProvider = Rust.ServerProvider;
export type MarketListing = Rust.MarketListing_Serialize;
export type MarketPage = Rust.MarketPage_Serialize;
export type MarketSearch = Rust.MarketSearch_Deserialize;
export type MarketListingDetail = Rust.MarketListingDetail_Serialize;
export type MarketPurchase = Rust.MarketPurchase_Serialize;
export type MarketReview = Rust.MarketReview;
export type NewMarketListing = Rust.NewMarketListing;
export type MarketReport = Rust.MarketReport;
export type MarketSeller = Rust.MarketSeller;
export type MarketSales = Rust.MarketSales_Serialize;
export type MarketSale = Rust.MarketSale_Serialize;
export type MarketReconciled = Rust.MarketReconciled;
export type UpdateCheck = Rust.UpdateCheck_Serialize;
export type UpdateProgress = Rust.UpdateProgress_Serialize;
export type UpdateSettings = Rust.UpdateSettings;
import type { CommandError, DocumentKind } from "./bindings";

/** A template in the gallery; its preview's nodes name their kind. */
export type TemplateCard = Omit<Rust.TemplateCard, "preview"> & {
  preview: {
    nodes: (Omit<Rust.PreviewNode, "x" | "y" | "kind"> & {
      x: number;
      y: number;
      kind: "agent" | "prompt" | "tool" | "input" | "output";
    })[];
    edges: [number, number][];
  };
};

/** Where sync stands. */
export type SyncStatus = Omit<Rust.SyncStatus_Serialize, "state"> & {
  state: "synced" | "pending" | "offline" | "signed_out" | "error";
};

/** The message of whatever a command rejected with. */
export function errorMessage(error: unknown): string {
  if (typeof error === "object" && error !== null && "message" in error) {
    return String((error as CommandError).message);
  }
  return String(error);
}

export type Theme = "light" | "dark" | "system";

/** The signed-in user. */
export type Account = Omit<Rust.Account_Serialize, "role" | "theme" | "settings"> & {
  role: "user" | "admin";
  theme: Theme;
  settings: Record<string, unknown>;
};

/** Who is signed in on this device. Never a token. */
export type AccountState = Omit<Rust.AccountState_Serialize, "account"> & { account: Account | null };

/** An OAuth provider the server offers. */
export type Provider = Rust.Provider;

export interface ProfileChange {
  name?: string;
  theme?: Theme;
  settings?: Record<string, unknown>;
}

/** A plan on offer (orrery_domain::policy::Plan, sent as JSON). */
export interface Plan {
  key: string;
  name: string;
  price_cents: number;
  interval: "month" | "year";
  limits: Record<string, number | null>;
  api_keys: boolean;
  trial_days: number;
  currency: string;
}

export interface MetricUsage {
  metric: "runs" | "tokens" | "api_calls" | "graphs" | "seats";
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

/** What the billing screen shows: the server's JSON, narrowed. */
/** The plan and usage the server answers for a workspace. */
export interface WorkspaceUsage {
  plan: Plan;
  period_resets_at: string | null;
  metrics: MetricUsage[];
}

export type BillingOverview = Omit<Rust.BillingOverview_Serialize, "plans" | "usage" | "subscription" | "invoices" | "team"> & {
  plans: Plan[];
  usage: WorkspaceUsage;
  /** In a team's workspace: the plan it works on (its owner's) and its seats. */
  team: { name: string; role: string; usage: WorkspaceUsage } | null;
  subscription: { plan: string; status: string; cancel_at_period_end: boolean; current_period_end: string } | null;
  invoices: Invoice[];
};

/** One agent, prompt or session as the library lists it. */
export type LibrarySummary = Omit<Rust.LibrarySummary, "summary"> & { summary: Record<string, unknown> };

/** A command that answers nothing (`null` on the wire), as a plain promise. */
function done(answer: Promise<null>): Promise<void> {
  return answer.then(() => undefined);
}

/** A command's answer, seen as the narrower type the shell sends. */
function narrowed<T>(answer: Promise<unknown>): Promise<T> {
  return answer as Promise<T>;
}

export const api = {
  listGraphs: commands.listGraphs,
  createGraph: commands.createGraph,
  addSampleGraph: commands.addSampleGraph,
  renameGraph: commands.renameGraph,
  openGraph: (id: string) => done(commands.openGraph(id)),
  /** Deletes a graph; it can be restored for RESTORE_DAYS days. */
  deleteGraph: commands.deleteGraph,
  restoreGraph: commands.restoreGraph,
  listDeletedGraphs: commands.listDeletedGraphs,
  duplicateGraph: commands.duplicateGraph,
  listTemplates: () => narrowed<TemplateCard[]>(commands.listTemplates()),
  about: commands.about,
  /** Opens an About link (by its key) in the browser. */
  openAboutLink: (key: string) => done(commands.openAboutLink(key)),
  /** Asks the sync server's feed for a newer version now. */
  checkForUpdate: commands.checkForUpdate,
  /** Downloads and installs the version the last check found, then restarts. */
  installUpdate: () => done(commands.installUpdate()),
  updateSettings: commands.updateSettings,
  /** Opens the app's log folder in the file manager; answers the folder. */
  openLogFolder: commands.openLogFolder,
  setUpdateChannel: commands.setUpdateChannel,
  /** Whether the first-run welcome is still to be shown on this device. */
  welcomeDue: commands.welcomeDue,
  dismissWelcome: () => done(commands.dismissWelcome()),
  /** Adds a template's graph, and the agents and prompts it names that the library lacks. */
  addTemplate: commands.addTemplate,
  /** Asks for a graph file (system dialog) and imports it; null if cancelled. */
  importGraph: commands.importGraph,
  /** Asks where to save (system dialog) and writes the graph; the path, or null if cancelled. */
  exportGraph: commands.exportGraph,
  syncStatus: () => narrowed<SyncStatus>(commands.syncStatus()),
  accountState: () => narrowed<AccountState>(commands.accountState()),
  register: (email: string, password: string, name: string) =>
    narrowed<AccountState>(commands.register(email, password, name)),
  signIn: (email: string, password: string) => narrowed<AccountState>(commands.signIn(email, password)),
  listProviders: commands.listProviders,
  signInWithProvider: (provider: string) => narrowed<AccountState>(commands.signInWithProvider(provider)),
  signOut: () => narrowed<AccountState>(commands.signOut()),
  // Only the fields given are sent, so the others stay as they are (the
  // command's `Option`s; the generated call would send each as null).
  updateProfile: (change: ProfileChange) =>
    narrowed<AccountState>(invoke<Rust.AccountState_Serialize>("update_profile", { ...change })),
  requestPasswordReset: (email: string) => done(commands.requestPasswordReset(email)),
  confirmPasswordReset: (code: string, password: string) => done(commands.confirmPasswordReset(code, password)),
  billingOverview: () => narrowed<BillingOverview>(commands.billingOverview()),
  startCheckout: (plan: string) => done(commands.startCheckout(plan)),
  openBillingPortal: () => done(commands.openBillingPortal()),
  listLibrary: (kind: DocumentKind) => narrowed<LibrarySummary[]>(commands.listLibrary(kind)),
  getAgent: commands.getAgent,
  saveAgent: commands.saveAgent,
  duplicateAgent: commands.duplicateAgent,
  /** Saves a graph as a custom agent (a blank name takes the graph's). */
  saveGraphAsAgent: commands.saveGraphAsAgent,
  deleteLibraryItem: (kind: DocumentKind, id: string) => done(commands.deleteLibraryItem(kind, id)),
  getPrompt: commands.getPrompt,
  savePrompt: commands.savePrompt,
  duplicatePrompt: commands.duplicatePrompt,
  addPromptVersion: commands.addPromptVersion,
  publishPromptVersion: commands.publishPromptVersion,
  getProvider: commands.getProvider,
  saveProvider: commands.saveProvider,
  testProvider: commands.testProvider,
  /** The management window (admins only; the server decides). */
  openAdminWindow: () => done(commands.openAdminWindow()),
  /** The teams the user belongs to, with their role in each. */
  listTeams: commands.listTeams,
  /** Creates a team the user owns; the teams then. */
  createTeam: commands.createTeam,
  /** A team's members and pending invitations. */
  teamPeople: commands.teamPeople,
  /** Invites an address as a role (the server mails the link); the team's people then. */
  inviteToTeam: commands.inviteToTeam,
  revokeTeamInvitation: commands.revokeTeamInvitation,
  changeTeamRole: commands.changeTeamRole,
  /** Removes a member, or leaves when it is the user; the teams then. */
  removeTeamMember: commands.removeTeamMember,
  /** Joins a team with an invitation's code or link. */
  acceptTeamInvitation: commands.acceptTeamInvitation,
  /** The personal workspace and the teams', and the one the app works in. */
  listWorkspaces: commands.listWorkspaces,
  /** Works in a team's workspace (null: the personal one); the workspaces then. */
  switchWorkspace: commands.switchWorkspace,
  /** Copies a personal graph into a team's workspace (the personal one stays). */
  copyGraphToTeam: commands.copyGraphToTeam,
  /** A graph's history: named versions and sync points, newest first. */
  graphHistory: commands.graphHistory,
  /** Names the graph as it is now; the history then. */
  saveGraphVersion: commands.saveGraphVersion,
  /** What changed from one version to another (null: now). */
  graphDiff: commands.graphDiff,
  showGraphVersion: commands.showGraphVersion,
  /** Brings a graph back to a version as one new edit; whether anything changed. */
  restoreGraphVersion: commands.restoreGraphVersion,
  /** Takes a graph's last restore back. */
  undoRestore: commands.undoRestore,
  /** The versions of the library prompts a graph's prompt nodes name. */
  graphPromptHistory: commands.graphPromptHistory,
  /** The tenant's Telegram bot and WhatsApp number, with their last messages. */
  listChannels: commands.listChannels,
  /** Connects a channel (the server checks its secrets with the platform); the channels then. */
  connectChannel: commands.connectChannel,
  disconnectChannel: commands.disconnectChannel,
  /** The provider the server calls for channels and the API; null when none is set. */
  serverProvider: commands.serverProvider,
  /** Gives the server this app's provider, its key from the keyring. */
  shareProviderWithServer: commands.shareProviderWithServer,
  /** A page of marketplace listings. */
  marketSearch: commands.marketSearch,
  /** One listing with its preview, versions and reviews. */
  marketListing: commands.marketListing,
  /** Gets a listing: a free one is in the library when this answers; a paid
   * one opens Stripe Checkout in the browser and answers `pending`. */
  marketBuy: commands.marketBuy,
  /** The user's selling account: payments on this server, Stripe's state. */
  marketSeller: commands.marketSeller,
  /** Opens Stripe's onboarding forms in the browser. */
  marketStartSelling: () => done(commands.marketStartSelling()),
  /** The user's sales report. */
  marketSales: commands.marketSales,
  /** Refunds one of the user's sales in full; the buyer sees the reason. */
  marketRefund: (purchaseId: string, reason: string) => done(commands.marketRefund(purchaseId, reason)),
  marketPurchases: commands.marketPurchases,
  marketSelling: commands.marketSelling,
  /** Lists one of the user's agents or prompts, free or for a one-off price. */
  marketCreateListing: commands.marketCreateListing,
  /** Publishes a listed item as it is now; whether it had changed. */
  marketPublishVersion: commands.marketPublishVersion,
  marketReview: (id: string, rating: number, body: string) => done(commands.marketReview(id, rating, body)),
  marketReport: (id: string, reason: string) => done(commands.marketReport(id, reason)),
  marketDelist: (id: string) => done(commands.marketDelist(id)),
  /** Reports about listings (admins only). */
  adminMarketReports: commands.adminMarketReports,
  /** The platform's commission on sales, basis points (admins only). */
  adminMarketCommission: commands.adminMarketCommission,
  /** Sets it, 0 to 5000 basis points; audited (admins only). */
  adminSetMarketCommission: (bps: number) => done(commands.adminSetMarketCommission(bps)),
  /** Runs the marketplace's reconciliation pass now (admins only). */
  adminMarketReconcile: commands.adminMarketReconcile,
  /** Takes a listing off the marketplace; the reason goes to the audit log. */
  adminDelistListing: (id: string, reason: string) => done(commands.adminDelistListing(id, reason)),
  adminListUsers: commands.adminListUsers,
  adminGetUser: commands.adminGetUser,
  adminChangeUser: commands.adminChangeUser,
  adminAuditLog: commands.adminAuditLog,
  adminOverview: commands.adminOverview,
  adminExportUser: commands.adminExportUser,
  adminDeleteUser: commands.adminDeleteUser,
  adminSavePlan: commands.adminSavePlan,
  adminListTenants: commands.adminListTenants,
  adminListPrompts: commands.adminListPrompts,
  adminRollBackPrompt: commands.adminRollBackPrompt,
  adminMonitoring: commands.adminMonitoring,
  adminMailTemplates: commands.adminMailTemplates,
  adminSaveMailTemplate: commands.adminSaveMailTemplate,
  adminResetMailTemplate: commands.adminResetMailTemplate,
  adminPreviewMailTemplate: commands.adminPreviewMailTemplate,
  adminExportAuditLog: commands.adminExportAuditLog,
  onAccountChanged: (handler: (state: AccountState) => void): Promise<UnlistenFn> =>
    events.accountChanged.listen((event) => handler(event.payload as AccountState)),
  /** The canvas asked for a screen (a failed run's "Open Providers"). */
  onOpenScreen: (handler: (screen: string) => void): Promise<UnlistenFn> =>
    events.openScreen.listen((event) => handler(event.payload)),
  onLibraryChanged: (handler: () => void): Promise<UnlistenFn> => events.libraryChanged.listen(() => handler()),
  /** An agent, prompt or session changed here (a command) or came in by sync. */
  onLibraryItemChanged: (handler: (kind: DocumentKind, id: string) => void): Promise<UnlistenFn> =>
    events.libraryItemChanged.listen((event) => handler(event.payload.kind, event.payload.id)),
  onSyncStatus: (handler: (status: SyncStatus) => void): Promise<UnlistenFn> =>
    events.syncStatus.listen((event) => handler(event.payload as SyncStatus)),
  /** An orrery://marketplace/listing/ID link asked for a listing. */
  onOpenListing: (handler: (listing: string) => void): Promise<UnlistenFn> =>
    events.openListing.listen((event) => handler(event.payload)),
  /** An orrery://invite/CODE link: the Teams screen offers to join. */
  onOpenInvitation: (handler: (code: string) => void): Promise<UnlistenFn> =>
    events.openInvitation.listen((event) => handler(event.payload)),
  /** Something to tell the user that no command answered (a deep link that failed). */
  onNotice: (handler: (message: string) => void): Promise<UnlistenFn> =>
    events.notice.listen((event) => handler(event.payload)),
  /** What an update check found (the timer's checks say only "available"). */
  onUpdateState: (handler: (check: UpdateCheck) => void): Promise<UnlistenFn> =>
    events.updateState.listen((event) => handler(event.payload)),
  /** How far "Install and restart" is. */
  onUpdateProgress: (handler: (progress: UpdateProgress) => void): Promise<UnlistenFn> =>
    events.updateProgress.listen((event) => handler(event.payload)),
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
