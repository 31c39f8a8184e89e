//! orrery-store: SQL persistence for Orrery, through sqlx.
//!
//! [`LocalStore`] is the desktop's own SQLite database (WAL): graph documents as
//! opaque CRDT bytes plus rows materialised from them. [`ServerStore`] is the
//! sync server's database: accounts, sessions and merged documents per tenant. This crate knows the
//! domain types but nothing of the CRDT library or the network: documents and
//! version vectors are byte strings that `orrery-sync` produces.

mod accounts;
mod admin;
mod agent_runs;
mod billing;
mod channels;
mod error;
mod events;
mod library;
mod local;
mod mail_templates;
mod market_payments;
mod marketplace;
mod metrics;
mod outbox;
mod plans;
mod prompt_versions;
mod releases;
mod runs;
mod server;
mod teams;
mod tenants;
mod user_data;

pub use accounts::{
    ApiKeyRecord, Credential, NewApiKey, NewUser, Principal, ProfileChange, RefreshOutcome, Role,
    Theme, TokenPairHashes, UserRecord, timestamp,
};
pub use admin::{
    AdminChange, AdminUser, AdminUserChange, AuditActor, AuditEntry, AuditFilter, AuditPage,
    ChainCheck, DeviceSession, GENESIS_HASH, UserPage, UserSearch, UserSort, UserStatus,
};
pub use agent_runs::{
    AgentRunRecord, IDEMPOTENCY_KEY_HOURS, IdempotencyClaim, IdempotencyKey, RunEnd, RunEventRow,
    RunState, RunTarget, StoredRunProvider,
};
pub use billing::{InvoiceOutcome, InvoiceRecord, SubscriptionRecord};
pub use channels::{ChannelMessage, ChannelRecord, LISTED_MESSAGES, NewChannelMessage};
pub use error::StoreError;
pub use events::EventKind;
pub use library::ServerLibrarySummary;
pub use local::{DocumentWrite, GraphSummary, LibrarySummary, LocalStore, StoredGraphDocument};
pub use mail_templates::{EditedTemplate, TemplateParts};
pub use market_payments::{
    LedgerRow, PayoutRecord, SaleRecord, SalesMonth, SellerRecord, SellerState,
};
pub use marketplace::{
    ListingCreated, ListingPage, ListingRecord, ListingSearch, ListingVersion, NewListingVersion,
    PurchaseClaim, PurchaseRecord, ReportRecord, ReviewRecord,
};
pub use metrics::DailyRow;
pub use outbox::{MailDraft, QueuedMail, TrialEnding};
pub use prompt_versions::{PublishedPromptPage, PublishedPromptVersion};
pub use releases::{
    OfferedRelease, PackageRecord, ReleaseChange, ReleaseDraft, ReleaseRecord, SealedPackage,
};
pub use runs::{GraphRuns, RunDay, RunFigures, RunFilter, RunMonitoring, RunsCounted, UserRuns};
pub use server::{
    Backend, ChangeListener, DatabaseLocation, GraphHead, GraphWrite, Heard, ServerGraphSummary,
    ServerStore, StoredGraph,
};
pub use teams::{
    InvitationAccepted, InvitationDraft, InvitationSent, MemberChanged, PendingInvitation,
    TeamCreated, TeamMemberRecord, TeamMembership, TeamSeat,
};
pub use tenants::{TenantMember, TenantPage, TenantSummary};
pub use user_data::{StoredDocument, UserDeletion, UserRows};

/// Where Orrery keeps its databases by default: `$XDG_DATA_HOME/orrery`, or
/// `~/.local/share/orrery`.
pub fn default_data_directory() -> std::path::PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| std::path::PathBuf::from(home).join(".local/share"))
        })
        .unwrap_or_else(|| std::path::PathBuf::from("."))
        .join("orrery")
}

/// Opens (creating if needed) a SQLite file in WAL mode with foreign keys on,
/// and brings its schema up to date with `migrator`.
async fn open_sqlite(
    path: &std::path::Path,
    max_connections: u32,
    migrator: &sqlx::migrate::Migrator,
) -> Result<sqlx::SqlitePool, StoreError> {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(std::time::Duration::from_secs(10))
        // Checkpoints run in the background after saves (see `local.rs`);
        // a commit checkpoints by itself only past this many WAL pages.
        .pragma("wal_autocheckpoint", local::WAL_BACKSTOP_PAGES.to_string());
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections)
        .connect_with(options)
        .await?;
    migrator.run(&pool).await?;
    Ok(pool)
}

/// Now, as RFC 3339 UTC text with milliseconds (the timestamp format of
/// every table, and of the times written into library documents).
pub fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
