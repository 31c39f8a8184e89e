//! The HTTP API: one module per resource, each with its own `router()`.
//!
//! Every route is added through [`Routes`], which records its method, path and
//! who may call it while building the axum router. [`endpoints`] lists that
//! record, so tests walk every route of the real router rather than a list
//! kept by hand.
//!
//! Operator routes live under `/v1/admin/` and only there, and are added only
//! through [`Routes::add_admin`]: each names the policy engine's
//! [`Action`](orrery_domain::policy::Action) it needs, and a gate in front of
//! the handler signs the caller in and asks the engine before the handler
//! runs. Handlers read the admin from [`admin::Admin`].

mod admin;
mod agent_runs;
mod api_keys;
mod auth;
mod billing;
mod body;
mod channels;
mod error;
mod graph_cache;
mod graphs;
mod health;
mod idempotency;
mod key_limits;
mod library;
mod live;
pub(crate) mod market_sales;
mod marketplace;
mod me;
mod openapi;
mod plans;
mod policy;
mod principal;
mod run_providers;
mod runs;
mod teams;
mod updates;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};
use orrery_domain::api_scope::ApiScope;
use orrery_domain::team::TeamAction;
use orrery_domain::{DocumentId, DocumentKind, GraphId};
use orrery_store::ServerStore;
use tokio::sync::Mutex;
use tower_http::trace::TraceLayer;
use uuid::Uuid;

use crate::auth::Clock;
use crate::auth::hashing::HashingPool;
use crate::auth::oauth::OAuthProvider;
use crate::auth::rate_limit::{AddressKey, HeldCounts, SignInLimiter, WindowLimiter};

pub use error::ApiError;
pub(crate) use library::materialise_prompt_versions;
pub use principal::{SignedIn, WORKSPACE_HEADER};

/// Password-reset mails per account per hour: enough for a user who lost
/// one, too few to flood an inbox.
const RESET_MAILS_PER_ACCOUNT: usize = 3;
/// Password-reset mails asked for from one client address per hour.
const RESET_MAILS_PER_ADDRESS: usize = 20;

/// Where every operator route lives, and nothing else.
pub const ADMIN_PREFIX: &str = "/v1/admin/";

/// Largest JSON body any account route accepts.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiContext {
    store: ServerStore,
    clock: Arc<dyn Clock>,
    sign_in_limiter: Arc<SignInLimiter>,
    reset_mails_by_account: Arc<WindowLimiter<String>>,
    reset_mails_by_address: Arc<WindowLimiter<AddressKey>>,
    registrations: Arc<WindowLimiter<AddressKey>>,
    /// Calls per API key (by the key's hash), per minute.
    api_key_calls: Arc<WindowLimiter<String>>,
    /// Every argon2id hash and check, on bounded threads behind a bounded queue.
    hashing: HashingPool,
    limits: crate::config::ServerLimits,
    /// Bytes of request bodies in memory, server-wide (one permit per KiB).
    body_budget: Arc<tokio::sync::Semaphore>,
    /// KiB of request bodies each client address holds in memory.
    body_held: HeldCounts<AddressKey>,
    providers: Arc<Vec<OAuthProvider>>,
    provider_http: reqwest::Client,
    billing: Option<Arc<crate::billing::Billing>>,
    live: live::LiveHub,
    trial_days: i64,
    /// One lock per tenant's document: merges into one document take turns.
    /// An entry lives while someone holds or waits for it (a request per
    /// made-up id cannot grow the map).
    merge_locks: Arc<std::sync::Mutex<HashMap<(Uuid, MergeTarget), MergeLock>>>,
    /// Graph merges running at once, server-wide. Decoding a hostile update
    /// can briefly take hundreds of MB (Loro sizes maps from counts in the
    /// bytes), so concurrency, not request rate, bounds the memory merges use.
    merge_slots: Arc<tokio::sync::Semaphore>,
    /// The same for library documents, apart: an agent's or prompt's small
    /// merge does not wait behind a 10k-node graph's.
    library_merge_slots: Arc<tokio::sync::Semaphore>,
    creation_locks: Arc<Mutex<HashMap<Uuid, MergeLock>>>,
    /// Merged graph documents kept between syncs (bounded by bytes).
    graphs: Arc<graph_cache::GraphCache>,
    /// Runs on the server (the public API).
    runs: crate::agent_runs::RunService,
    /// The messenger platforms' clients.
    channels: Arc<channels::ChannelClients>,
    /// The update feed's keys.
    updates: crate::config::UpdatesConfig,
}

/// The longest the reconciliation pass at start may hold the server back.
const FIRST_RECONCILIATION: std::time::Duration = std::time::Duration::from_secs(20);

/// Serialises merges into one document, or graph creations in one tenant.
type MergeLock = Arc<Mutex<()>>;

/// The document a merge writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum MergeTarget {
    Graph(GraphId),
    Library(DocumentKind, DocumentId),
}

/// How often a merge that lost a race to another merge of the same document
/// (possibly on another instance) is retried before the device is asked to
/// come back.
const MERGE_ATTEMPTS: usize = 8;

/// A merge's turn: its document's lock and a server-wide merge slot, held
/// until dropped.
struct MergeTurn<'a> {
    document: Option<tokio::sync::OwnedMutexGuard<()>>,
    key: (Uuid, MergeTarget),
    locks: Arc<std::sync::Mutex<HashMap<(Uuid, MergeTarget), MergeLock>>>,
    _slot: tokio::sync::SemaphorePermit<'a>,
}

impl Drop for MergeTurn<'_> {
    /// Gives the document's lock back, and forgets it when no one else
    /// holds or waits for it.
    fn drop(&mut self) {
        drop(self.document.take());
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if locks
            .get(&self.key)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            locks.remove(&self.key);
        }
    }
}

/// The parts an [`ApiContext`] is made of.
pub struct ApiParts {
    /// The database.
    pub store: ServerStore,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Failed sign-in counts.
    pub sign_in_limiter: Arc<SignInLimiter>,
    /// OAuth providers.
    pub providers: Vec<OAuthProvider>,
    /// Trial length for new accounts.
    pub trial_days: i64,
    /// Stripe, when configured.
    pub billing: Option<crate::billing::Billing>,
    /// Bounds on what clients may hold.
    pub limits: crate::config::ServerLimits,
    /// How the server runs agents.
    pub runs: crate::agent_runs::RunsConfig,
    /// Where the messenger platforms are, and this server's public address.
    pub channels: crate::channels::ChannelsConfig,
    /// The update feed's keys.
    pub updates: crate::config::UpdatesConfig,
}

impl ApiContext {
    /// A context from its parts.
    pub fn new(parts: ApiParts) -> Self {
        Self {
            channels: channels::clients(parts.channels),
            updates: parts.updates,
            runs: crate::agent_runs::RunService::new(
                parts.store.clone(),
                Arc::clone(&parts.clock),
                parts.runs,
            ),
            live: live::LiveHub::new(parts.store.clone(), parts.limits.max_connections),
            store: parts.store,
            clock: parts.clock,
            sign_in_limiter: parts.sign_in_limiter,
            reset_mails_by_account: Arc::new(WindowLimiter::new(
                RESET_MAILS_PER_ACCOUNT,
                chrono::Duration::hours(1),
            )),
            reset_mails_by_address: Arc::new(WindowLimiter::new(
                RESET_MAILS_PER_ADDRESS,
                chrono::Duration::hours(1),
            )),
            registrations: Arc::new(WindowLimiter::new(
                parts.limits.registrations_per_address_per_hour,
                chrono::Duration::hours(1),
            )),
            api_key_calls: Arc::new(WindowLimiter::new(
                parts.limits.api_key_calls_per_minute,
                chrono::Duration::minutes(1),
            )),
            hashing: HashingPool::per_core(),
            limits: parts.limits,
            body_budget: Arc::new(tokio::sync::Semaphore::new(body::budget_permits(
                parts.limits.body_bytes_in_flight,
            ))),
            body_held: HeldCounts::default(),
            providers: Arc::new(parts.providers),
            provider_http: crate::auth::oauth::provider_http_client(),
            billing: parts.billing.map(Arc::new),
            trial_days: parts.trial_days,
            merge_locks: Arc::default(),
            merge_slots: Arc::new(tokio::sync::Semaphore::new(merge_slots())),
            library_merge_slots: Arc::new(tokio::sync::Semaphore::new(merge_slots())),
            creation_locks: Arc::default(),
            graphs: Arc::new(graph_cache::GraphCache::new(
                parts.limits.graph_cache_bytes,
                parts.limits.cache_memory_ceiling_bytes,
            )),
        }
    }

    /// Starts hearing merges made by other server instances on the same
    /// PostgreSQL database (nothing to do on SQLite).
    pub async fn start_live_relay(&self) -> anyhow::Result<()> {
        self.live.start_relay().await
    }

    /// Says this instance is alive, now and every few seconds, and ends the
    /// runs of instances that stopped saying so.
    pub async fn start_run_heartbeat(&self) -> anyhow::Result<()> {
        self.runs.start_heartbeat().await
    }

    /// Runs the marketplace's reconciliation pass now (before the server
    /// takes requests: a purchase paid while it was down is delivered by
    /// the time it listens), then every hour. A pass that cannot reach
    /// Stripe is logged and tried again at the next hour; the first waits
    /// at most [`FIRST_RECONCILIATION`].
    pub async fn start_marketplace_reconciliation(&self) {
        let pass = |context: ApiContext, first: bool| async move {
            match market_sales::reconcile(&context, first).await {
                Ok(done) if done != market_sales::Reconciled::default() => {
                    tracing::info!(
                        settled = done.settled,
                        delivered = done.delivered,
                        refunded = done.refunded,
                        "the marketplace reconciliation pass caught up"
                    );
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "the marketplace reconciliation pass failed; it runs again in an hour");
                }
            }
        };
        if tokio::time::timeout(FIRST_RECONCILIATION, pass(self.clone(), true))
            .await
            .is_err()
        {
            tracing::warn!(
                "the first marketplace reconciliation pass took too long; it runs again in an hour"
            );
        }
        let context = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(3_600));
            every.tick().await;
            loop {
                every.tick().await;
                pass(context.clone(), false).await;
            }
        });
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The tenant's turn to create graphs, held until dropped, when `needed`:
    /// creating (or restoring) graphs in one tenant takes turns, so the plan's
    /// graph limit is checked and used up atomically.
    async fn creation_turn(
        &self,
        tenant: Uuid,
        needed: bool,
    ) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        if !needed {
            return None;
        }
        let lock = self
            .creation_locks
            .lock()
            .await
            .entry(tenant)
            .or_default()
            .clone();
        Some(lock.lock_owned().await)
    }

    /// Waits for this merge's turn: one merge at a time per document on
    /// this instance (between instances the stored revision decides), and at
    /// most `merge_slots()` merges at once.
    async fn merge_turn(&self, tenant: Uuid, document: MergeTarget) -> MergeTurn<'_> {
        let key = (tenant, document);
        let lock = self
            .merge_locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(key)
            .or_default()
            .clone();
        let guard = lock.lock_owned().await;
        let slots = match document {
            MergeTarget::Graph(_) => &self.merge_slots,
            MergeTarget::Library(..) => &self.library_merge_slots,
        };
        let slot = slots
            .acquire()
            .await
            .expect("the merge semaphore is never closed");
        MergeTurn {
            document: Some(guard),
            key,
            locks: Arc::clone(&self.merge_locks),
            _slot: slot,
        }
    }
}

/// Runs CPU-heavy work (decoding, merging and encoding documents) on the
/// blocking pool, so the async workers stay free to answer everything else
/// while a large graph merges. Merge slots bound how many run at once.
pub(crate) async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ApiError::Internal(error.into()))
}

/// How many merges may run at once: one per core, at least two.
fn merge_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |cores| cores.get().max(2))
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (health, registration, sign-in).
    Public,
    /// A signed-in user (access token or API key); sees only their tenant.
    SignedIn,
    /// An admin of this server whom the policy engine lets do the route's
    /// operator action (every `/v1/admin/*` route, added with
    /// `Routes::add_admin`, and no other).
    Admin,
}

/// One route of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Its method.
    pub method: Method,
    /// Its path pattern, with `{param}` placeholders.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// The scope an API key needs to call it; `None`: keys may not, whatever
    /// their scopes (managing keys, the profile, billing, administration).
    pub key_scope: Option<ApiScope>,
    /// What a member's role must allow for them to call it inside a team's
    /// workspace (the policy engine decides); `None`: never inside a team,
    /// since it acts on one's own account. Routes open to keys take it from
    /// their scope ([`team_action_of`]).
    pub team_action: Option<TeamAction>,
}

/// What a route opened to keys with `scope` asks of a team member: reading
/// scopes read, `graphs:write` and `library:write` edit, `runs:write` runs.
pub fn team_action_of(scope: ApiScope) -> TeamAction {
    match scope {
        ApiScope::GraphsRead
        | ApiScope::LibraryRead
        | ApiScope::AccountRead
        | ApiScope::Live
        | ApiScope::RunsRead => TeamAction::Read,
        ApiScope::GraphsWrite | ApiScope::LibraryWrite => TeamAction::Edit,
        ApiScope::RunsWrite => TeamAction::Run,
    }
}

/// Who may call the route a request was routed to, for [`SignedIn`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteAccess {
    /// The scope a key needs.
    pub key_scope: Option<ApiScope>,
    /// What a team member's role must allow.
    pub team_action: Option<TeamAction>,
}

/// A router under construction that remembers what was added to it.
pub(crate) struct Routes {
    routes: Vec<(Endpoint, MethodRouter<ApiContext>)>,
}

impl Routes {
    fn new() -> Self {
        Self { routes: Vec::new() }
    }

    /// Lets API keys with `scope` call the route added last, and team
    /// members whose role allows what the scope does.
    fn for_keys(mut self, scope: ApiScope) -> Self {
        let (endpoint, _) = self
            .routes
            .last_mut()
            .expect("for_keys follows the route it opens to keys");
        endpoint.key_scope = Some(scope);
        endpoint.team_action = Some(team_action_of(scope));
        self
    }

    /// Lets team members whose role allows `action` call the route added
    /// last inside their team's workspace.
    fn in_teams(mut self, action: TeamAction) -> Self {
        let (endpoint, _) = self
            .routes
            .last_mut()
            .expect("in_teams follows the route it opens to teams");
        endpoint.team_action = Some(action);
        self
    }

    /// Adds `handler` for `method path` with JSON-sized bodies.
    fn add<H, T>(self, method: Method, path: &'static str, access: Access, handler: H) -> Self
    where
        H: Handler<T, ApiContext>,
        T: 'static,
    {
        self.add_limited(method, path, access, MAX_JSON_BODY_BYTES, handler)
    }

    /// Adds `handler` for `method path` accepting bodies up to `max_body_bytes`.
    fn add_limited<H, T>(
        self,
        method: Method,
        path: &'static str,
        access: Access,
        max_body_bytes: usize,
        handler: H,
    ) -> Self
    where
        H: Handler<T, ApiContext>,
        T: 'static,
    {
        assert!(
            access != Access::Admin && !path.starts_with(ADMIN_PREFIX),
            "{path}: operator routes are added with add_admin"
        );
        let filter = MethodFilter::try_from(method.clone()).expect("routes use standard methods");
        let route = on(filter, handler).layer(DefaultBodyLimit::max(max_body_bytes));
        self.push(method, path, access, route)
    }

    /// Adds an operator route: `path` is under `/v1/admin/`, and only a
    /// caller the policy engine lets do `action` reaches `handler` (the gate
    /// answers 401 to no or a dead credential, 403 to an API key or anyone
    /// else).
    fn add_admin<H, T>(
        self,
        method: Method,
        path: &'static str,
        action: orrery_domain::policy::Action,
        handler: H,
    ) -> Self
    where
        H: Handler<T, ApiContext>,
        T: 'static,
    {
        self.add_admin_limited(method, path, action, MAX_JSON_BODY_BYTES, handler)
    }

    /// [`Self::add_admin`] for a route accepting bodies up to `max_body_bytes`.
    fn add_admin_limited<H, T>(
        self,
        method: Method,
        path: &'static str,
        action: orrery_domain::policy::Action,
        max_body_bytes: usize,
        handler: H,
    ) -> Self
    where
        H: Handler<T, ApiContext>,
        T: 'static,
    {
        assert!(
            path.starts_with(ADMIN_PREFIX) && action.is_administration(),
            "{path}: operator routes live under {ADMIN_PREFIX} and need an operator action"
        );
        let filter = MethodFilter::try_from(method.clone()).expect("routes use standard methods");
        let route = on(filter, handler)
            .layer(DefaultBodyLimit::max(max_body_bytes))
            .layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    admin::gate(action.clone(), request, next)
                },
            ));
        self.push(method, path, Access::Admin, route)
    }

    fn push(
        mut self,
        method: Method,
        path: &'static str,
        access: Access,
        route: MethodRouter<ApiContext>,
    ) -> Self {
        self.routes.push((
            Endpoint {
                method,
                path,
                access,
                key_scope: None,
                team_action: None,
            },
            route,
        ));
        self
    }

    fn merge(mut self, other: Routes) -> Self {
        self.routes.extend(other.routes);
        self
    }

    fn endpoints(&self) -> Vec<Endpoint> {
        self.routes
            .iter()
            .map(|(endpoint, _)| endpoint.clone())
            .collect()
    }

    /// The axum router: each route carries who may call it for [`SignedIn`].
    fn into_router(self) -> Router<ApiContext> {
        self.routes
            .into_iter()
            .fold(Router::new(), |router, (endpoint, route)| {
                router.route(
                    endpoint.path,
                    route.layer(axum::Extension(RouteAccess {
                        key_scope: endpoint.key_scope,
                        team_action: endpoint.team_action,
                    })),
                )
            })
    }
}

fn all_routes() -> Routes {
    Routes::new()
        .merge(health::router())
        .merge(auth::router())
        .merge(me::router())
        .merge(api_keys::router())
        .merge(plans::router())
        .merge(billing::router())
        .merge(graphs::router())
        .merge(library::router())
        .merge(runs::router())
        .merge(agent_runs::router())
        .merge(run_providers::router())
        .merge(channels::router())
        .merge(marketplace::router())
        .merge(market_sales::router())
        .merge(updates::router())
        .merge(openapi::router())
        .merge(live::router())
        .merge(teams::router())
        .merge(admin::router())
}

/// Every route of the API, as the router is built.
pub fn endpoints() -> Vec<Endpoint> {
    all_routes().endpoints()
}

/// Every operator route (`/v1/admin/*`), as the router is built.
pub fn admin_endpoints() -> Vec<Endpoint> {
    endpoints()
        .into_iter()
        .filter(|endpoint| endpoint.path.starts_with(ADMIN_PREFIX))
        .collect()
}

/// The whole `/v1` API. Every request body passes [`body::admit`] first:
/// it is read within the body timeout, and only while the server-wide budget
/// of body bytes has room for it.
pub fn api_router(context: ApiContext) -> Router {
    all_routes()
        .into_router()
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .method_not_allowed_fallback(|| async {
            ApiError::MethodNotAllowed("this endpoint does not accept that method".into())
        })
        .layer(axum::middleware::from_fn_with_state(
            context.clone(),
            body::admit,
        ))
        // Before a body is read: a key past its limit costs nothing more.
        .layer(axum::middleware::from_fn_with_state(
            context.clone(),
            key_limits::limit_api_keys,
        ))
        // The operator routes' gate reads the context from here (it is
        // added to routes before the router has its state).
        .layer(axum::Extension(context.clone()))
        .layer(TraceLayer::new_for_http())
        .with_state(context)
}
