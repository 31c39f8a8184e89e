//! The server's administration routes (`/v1/admin/*`) as the desktop's
//! management window calls them. The server decides who may: these calls
//! carry the signed-in admin's token and pass its refusals on.

use serde::{Deserialize, Serialize};

use crate::{AccountClient, AccountError};

/// A user as the management window lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AdminUser {
    /// Their id.
    pub id: String,
    /// Their tenant.
    pub tenant_id: String,
    /// Their address.
    pub email: String,
    /// Their name.
    pub name: String,
    /// `user` or `admin`.
    pub role: String,
    /// Their plan's key.
    pub plan: String,
    /// `active`, `trialing`, `past_due` or `suspended`.
    pub status: String,
    /// When their trial ends.
    pub trial_ends_at: Option<String>,
    /// When they were suspended, if they are.
    pub suspended_at: Option<String>,
    /// When they registered.
    pub created_at: String,
}

/// A page of users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct UserPage {
    /// The users on this page.
    pub users: Vec<AdminUser>,
    /// How many match, on every page.
    pub total: u64,
    /// This page, from 1.
    pub page: u64,
    /// Users per page.
    pub per_page: u64,
}

/// Which users to list: every field may be left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct UserQuery {
    /// Part of the address or name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// A plan's key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// `user` or `admin`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// `active`, `trialing`, `past_due` or `suspended`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `created_at`, `email` or `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
    /// `asc` or `desc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// The page, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    /// Users per page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_page: Option<u64>,
}

/// One entry of the server's audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AuditEntry {
    /// Its place in the chain.
    pub seq: i64,
    /// When.
    pub at: String,
    /// The admin who acted, by address.
    pub actor_email: String,
    /// What they did (`user.plan`, `user.role`, `user.suspend`, …).
    pub action: String,
    /// What kind of thing it was done to (`user`, `plan`).
    pub target_kind: String,
    /// Which one.
    pub target_id: String,
    /// The target before.
    pub before: serde_json::Value,
    /// The target after.
    pub after: serde_json::Value,
    /// The address the request came from.
    pub address: String,
}

/// A page of the audit log, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AuditPage {
    /// The entries on this page.
    pub entries: Vec<AuditEntry>,
    /// How many match.
    pub total: u64,
    /// This page, from 1.
    pub page: u64,
    /// Entries per page.
    pub per_page: u64,
}

/// Which audit entries to list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AuditQuery {
    /// One action (`user.plan`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// A user id or a plan key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The page, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    /// Entries per page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_page: Option<u64>,
}

/// What a change answers: the user after it, and the entry that records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct UserChange {
    /// The user after the change.
    pub user: AdminUser,
    /// The audit entry that records it.
    pub audit: AuditEntry,
}

/// One user opened whole in the management window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct UserDetail {
    /// The user.
    #[serde(flatten)]
    pub user: AdminUser,
    /// Their usage against their plan's limits this period.
    pub usage: Vec<MetricUsage>,
    /// When the period's counts reset.
    pub period_resets_at: Option<String>,
    /// The devices they are signed in on.
    pub devices: Vec<SignedInDevice>,
    /// How many API keys they hold.
    pub api_keys: u64,
    /// Their invoices.
    pub invoices: Vec<UserInvoice>,
    /// The latest admin actions on them.
    pub recent_admin_actions: Vec<AuditEntry>,
}

/// One metric against its limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MetricUsage {
    /// `runs`, `tokens`, `api_calls` or `graphs`.
    pub metric: String,
    /// Used this period.
    pub used: u64,
    /// The plan's limit; `None` is unlimited.
    pub limit: Option<u64>,
}

/// A device a user is signed in on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SignedInDevice {
    /// The session's id.
    pub id: String,
    /// What the device calls itself.
    pub device_name: String,
    /// When it signed in.
    pub created_at: String,
}

/// An invoice of the user's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct UserInvoice {
    /// Stripe's id.
    pub id: String,
    /// `paid`, `open`, ….
    pub status: String,
    /// Amount due, in cents.
    pub amount_due: i64,
    /// Amount paid, in cents.
    pub amount_paid: i64,
    /// ISO currency code.
    pub currency: String,
    /// Stripe's page for it.
    pub hosted_url: Option<String>,
    /// When it was made.
    pub created: String,
}

/// Changes an admin makes to one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum UserAction {
    /// Move them to the plan with this key.
    Plan {
        /// The plan's key.
        plan: String,
    },
    /// Make them `user` or `admin`.
    Role {
        /// The role.
        role: String,
    },
    /// Lock them out at once.
    Suspend,
    /// Let them back in.
    Reactivate,
    /// End their trial at this time (RFC 3339, in the future), or now
    /// (`None`).
    Trial {
        /// When it ends.
        ends_at: Option<String>,
    },
    /// Sign them out of every device.
    RevokeSessions,
}

/// One day of the overview's series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct OverviewDay {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// The day's figures.
    #[serde(flatten)]
    pub figures: orrery_domain::revenue::DailyFigures,
}

/// The server's figures over a window of days, as the overview shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AdminOverview {
    /// The window's length: 30, 90 or 365 days.
    pub days: u32,
    /// Its first day.
    pub from: String,
    /// Its last day (today, UTC).
    pub to: String,
    /// The window's figures.
    pub figures: orrery_domain::revenue::WindowFigures,
    /// The window before, for comparison.
    pub previous: orrery_domain::revenue::WindowFigures,
    /// One point a day, oldest first.
    pub series: Vec<OverviewDay>,
}

/// A member of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct TenantMember {
    /// The user's id.
    pub id: String,
    /// Their address.
    pub email: String,
    /// `user` or `admin`.
    pub role: String,
}

/// A tenant as the management window lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AdminTenant {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was made.
    pub created_at: String,
    /// Its members.
    pub members: Vec<TenantMember>,
    /// Graphs it holds.
    pub graphs: i64,
    /// Agents, prompts and sessions it holds.
    pub documents: i64,
    /// Agent runs this period.
    pub runs: i64,
    /// Tokens this period.
    pub tokens: i64,
    /// API calls this period.
    pub api_calls: i64,
}

/// A page of tenants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct TenantPage {
    /// This page.
    pub tenants: Vec<AdminTenant>,
    /// How many match.
    pub total: u64,
    /// This page, from 1.
    pub page: u64,
    /// Tenants per page.
    pub per_page: u64,
    /// The usage period counted (`YYYY-MM`).
    pub period: String,
}

/// A published prompt version as the management window lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PublishedPrompt {
    /// The tenant the prompt belongs to.
    pub tenant_id: String,
    /// The tenant's name.
    pub tenant_name: String,
    /// The prompt.
    pub prompt_id: String,
    /// The prompt's title.
    pub title: String,
    /// The version.
    pub version_id: String,
    /// `active` (what runs use now) or `archived`.
    pub status: String,
    /// Its text.
    pub content: String,
    /// When it was written, RFC 3339.
    pub created_at: String,
    /// When it was last published, RFC 3339.
    pub activated_at: String,
    /// Who published it last, when known.
    pub published_by: Option<String>,
    /// Their address, when known.
    pub published_by_email: Option<String>,
}

/// A page of published prompt versions, most recently published first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PublishedPromptPage {
    /// This page.
    pub versions: Vec<PublishedPrompt>,
    /// How many match.
    pub total: u64,
    /// This page, from 1.
    pub page: u64,
    /// Versions per page.
    pub per_page: u64,
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PromptRollback {
    /// The version now active.
    pub version_id: String,
    /// The version that was active before, if one was.
    pub previous_version_id: Option<String>,
    /// When it became active, RFC 3339.
    pub activated_at: String,
}

/// Runs, errors, tokens and run time over some runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RunFigures {
    /// Runs finished.
    pub runs: i64,
    /// Runs that ended in an error.
    pub errors: i64,
    /// Runs the user cancelled.
    pub cancelled: i64,
    /// Tokens both ways.
    pub tokens: i64,
    /// Mean run time, milliseconds.
    pub mean_latency_ms: i64,
    /// Longest run time, milliseconds.
    pub max_latency_ms: i64,
    /// Estimated cost in nanodollars, of the runs whose cost is known.
    pub cost_nanodollars: i64,
}

/// One day of runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RunDay {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Its figures.
    #[serde(flatten)]
    pub figures: RunFigures,
}

/// One graph's runs in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct GraphRuns {
    /// The graph.
    pub graph_id: String,
    /// Its name, when the server holds it.
    pub name: Option<String>,
    /// Its tenant's name.
    pub tenant_name: String,
    /// Its figures.
    #[serde(flatten)]
    pub figures: RunFigures,
}

/// One user's runs in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct UserRuns {
    /// The user.
    pub user_id: String,
    /// Their address, unless they were deleted.
    pub email: Option<String>,
    /// Their figures.
    #[serde(flatten)]
    pub figures: RunFigures,
}

/// Runs over the last 30, 90 or 365 days, as Monitoring shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RunMonitoring {
    /// The window's length in days.
    pub days: i64,
    /// Its first and last day, `YYYY-MM-DD` (UTC).
    pub from: String,
    pub to: String,
    /// The whole window.
    pub totals: RunFigures,
    /// Each day, oldest first.
    pub series: Vec<RunDay>,
    /// The graphs with the most runs.
    pub graphs: Vec<GraphRuns>,
    /// The users with the most runs.
    pub users: Vec<UserRuns>,
}

/// The parts of an account email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MailParts {
    /// The subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// An account-email template as the management window edits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MailTemplate {
    /// Its key (`welcome`, `trial_ending`, …).
    pub key: String,
    /// The variables it may use.
    pub variables: Vec<String>,
    /// Whether an admin edited it.
    pub edited: bool,
    /// The parts in use.
    pub parts: MailParts,
    /// The parts it ships with.
    pub shipped: MailParts,
    /// When it was last edited.
    pub updated_at: Option<String>,
}

/// A template rendered with sample values.
pub type MailPreview = MailParts;

/// A template key checked for shape before it goes into a path.
fn template_key(key: &str) -> Result<&str, AccountError> {
    let plausible = !key.is_empty()
        && key.len() <= 40
        && key
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte == b'_');
    if plausible {
        Ok(key)
    } else {
        Err(AccountError::Protocol(format!(
            "`{key}` is not an email template"
        )))
    }
}

impl AccountClient {
    /// Every account-email template (admins only).
    pub async fn admin_mail_templates(
        &self,
        access_token: &str,
    ) -> Result<Vec<MailTemplate>, AccountError> {
        self.json(
            self.http
                .get(self.url("/v1/admin/mail-templates"))
                .bearer_auth(access_token),
        )
        .await
    }

    /// Puts an edit of a template in use (admins only; the server checks it).
    pub async fn admin_save_mail_template(
        &self,
        access_token: &str,
        key: &str,
        parts: &MailParts,
    ) -> Result<MailTemplate, AccountError> {
        let key = template_key(key)?;
        self.json(
            self.http
                .put(self.url(&format!("/v1/admin/mail-templates/{key}")))
                .bearer_auth(access_token)
                .json(parts),
        )
        .await
    }

    /// Uses the parts a template ships with again (admins only).
    pub async fn admin_reset_mail_template(
        &self,
        access_token: &str,
        key: &str,
    ) -> Result<MailTemplate, AccountError> {
        let key = template_key(key)?;
        self.json(
            self.http
                .delete(self.url(&format!("/v1/admin/mail-templates/{key}")))
                .bearer_auth(access_token),
        )
        .await
    }

    /// Renders parts of a template with sample values (admins only).
    pub async fn admin_preview_mail_template(
        &self,
        access_token: &str,
        key: &str,
        parts: &MailParts,
    ) -> Result<MailPreview, AccountError> {
        let key = template_key(key)?;
        self.json(
            self.http
                .post(self.url(&format!("/v1/admin/mail-templates/{key}/preview")))
                .bearer_auth(access_token)
                .json(parts),
        )
        .await
    }
}

/// A user id checked for shape before it goes into a path.
fn path_id(user_id: &str) -> Result<uuid::Uuid, AccountError> {
    uuid::Uuid::parse_str(user_id)
        .map_err(|_| AccountError::Protocol(format!("`{user_id}` is not a user id")))
}

impl AccountClient {
    /// A page of tenants: `query` matches a part of the name or of a
    /// member's address (admins only).
    pub async fn admin_tenants(
        &self,
        access_token: &str,
        query: Option<&str>,
        page: u64,
    ) -> Result<TenantPage, AccountError> {
        let mut request = self
            .http
            .get(self.url("/v1/admin/tenants"))
            .bearer_auth(access_token)
            .query(&[("page", page)]);
        if let Some(query) = query {
            request = request.query(&[("query", query)]);
        }
        self.json(request).await
    }

    /// A page of every tenant's published prompt versions: `query`
    /// matches a part of the title, the text, the tenant or the publisher
    /// (admins only).
    pub async fn admin_prompts(
        &self,
        access_token: &str,
        query: Option<&str>,
        page: u64,
    ) -> Result<PublishedPromptPage, AccountError> {
        let mut request = self
            .http
            .get(self.url("/v1/admin/prompts"))
            .bearer_auth(access_token)
            .query(&[("page", page)]);
        if let Some(query) = query {
            request = request.query(&[("query", query)]);
        }
        self.json(request).await
    }

    /// Makes an earlier published version of a tenant's prompt the active
    /// one again (admins only).
    pub async fn admin_roll_back_prompt(
        &self,
        access_token: &str,
        tenant_id: &str,
        prompt_id: &str,
        version_id: &str,
    ) -> Result<PromptRollback, AccountError> {
        let tenant = uuid::Uuid::parse_str(tenant_id)
            .map_err(|_| AccountError::Protocol(format!("`{tenant_id}` is not a tenant id")))?;
        let prompt = uuid::Uuid::parse_str(prompt_id)
            .map_err(|_| AccountError::Protocol(format!("`{prompt_id}` is not a prompt id")))?;
        self.json(
            self.http
                .post(self.url(&format!("/v1/admin/prompts/{tenant}/{prompt}/rollback")))
                .bearer_auth(access_token)
                .json(&serde_json::json!({ "version_id": version_id })),
        )
        .await
    }

    /// The server's figures over the last `days` days (admins only).
    pub async fn admin_overview(
        &self,
        access_token: &str,
        days: u32,
    ) -> Result<AdminOverview, AccountError> {
        self.json(
            self.http
                .get(self.url("/v1/admin/overview"))
                .bearer_auth(access_token)
                .query(&[("days", days)]),
        )
        .await
    }

    /// Runs over the last `days` days, of one graph or one user when given
    /// (admins only).
    pub async fn admin_monitoring(
        &self,
        access_token: &str,
        days: u32,
        graph: Option<&str>,
        user: Option<&str>,
    ) -> Result<RunMonitoring, AccountError> {
        let mut request = self
            .http
            .get(self.url("/v1/admin/monitoring"))
            .bearer_auth(access_token)
            .query(&[("days", days)]);
        if let Some(graph) = graph {
            request = request.query(&[("graph", graph)]);
        }
        if let Some(user) = user {
            request = request.query(&[("user", user)]);
        }
        self.json(request).await
    }

    /// Everything the server holds about one user, as one JSON archive
    /// (admins only; the server records the export in its audit log).
    pub async fn admin_export_user(
        &self,
        access_token: &str,
        user_id: &str,
    ) -> Result<serde_json::Value, AccountError> {
        let id = path_id(user_id)?;
        self.json(
            self.http
                .get(self.url(&format!("/v1/admin/users/{id}/export")))
                .bearer_auth(access_token),
        )
        .await
    }

    /// Deletes one user with all their data (admins only); answers the audit
    /// entry that records it.
    pub async fn admin_delete_user(
        &self,
        access_token: &str,
        user_id: &str,
    ) -> Result<AuditEntry, AccountError> {
        #[derive(Deserialize)]
        struct Deleted {
            audit: AuditEntry,
        }
        let id = path_id(user_id)?;
        let deleted: Deleted = self
            .json(
                self.http
                    .delete(self.url(&format!("/v1/admin/users/{id}")))
                    .bearer_auth(access_token),
            )
            .await?;
        Ok(deleted.audit)
    }

    /// Creates or replaces a plan (admins only); answers the plan stored.
    pub async fn admin_put_plan(
        &self,
        access_token: &str,
        plan: &orrery_domain::policy::Plan,
    ) -> Result<orrery_domain::policy::Plan, AccountError> {
        let key = &plan.key;
        let plausible = !key.is_empty()
            && key.len() <= 40
            && key
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
        if !plausible {
            return Err(AccountError::Protocol(format!("`{key}` is not a plan key")));
        }
        self.json(
            self.http
                .put(self.url(&format!("/v1/admin/plans/{key}")))
                .bearer_auth(access_token)
                .json(plan),
        )
        .await
    }

    /// A page of the server's users (admins only).
    pub async fn admin_users(
        &self,
        access_token: &str,
        query: &UserQuery,
    ) -> Result<UserPage, AccountError> {
        self.json(
            self.http
                .get(self.url("/v1/admin/users"))
                .bearer_auth(access_token)
                .query(query),
        )
        .await
    }

    /// Changes one user (admins only); answers the user after the change.
    pub async fn admin_change_user(
        &self,
        access_token: &str,
        user_id: &str,
        action: &UserAction,
    ) -> Result<UserChange, AccountError> {
        // The id goes into the path: only the shape of an id is sent.
        let id = path_id(user_id)?;
        let request = match action {
            UserAction::Plan { plan } => self
                .http
                .put(self.url(&format!("/v1/admin/users/{id}/plan")))
                .json(&serde_json::json!({ "plan": plan })),
            UserAction::Role { role } => self
                .http
                .put(self.url(&format!("/v1/admin/users/{id}/role")))
                .json(&serde_json::json!({ "role": role })),
            UserAction::Suspend => self
                .http
                .post(self.url(&format!("/v1/admin/users/{id}/suspend"))),
            UserAction::Reactivate => self
                .http
                .post(self.url(&format!("/v1/admin/users/{id}/reactivate"))),
            UserAction::Trial { ends_at } => self
                .http
                .put(self.url(&format!("/v1/admin/users/{id}/trial")))
                .json(&serde_json::json!({ "ends_at": ends_at })),
            UserAction::RevokeSessions => self
                .http
                .post(self.url(&format!("/v1/admin/users/{id}/sessions/revoke"))),
        };
        self.json(request.bearer_auth(access_token)).await
    }

    /// One user, whole (admins only).
    pub async fn admin_user(
        &self,
        access_token: &str,
        user_id: &str,
    ) -> Result<UserDetail, AccountError> {
        let id = path_id(user_id)?;
        self.json(
            self.http
                .get(self.url(&format!("/v1/admin/users/{id}")))
                .bearer_auth(access_token),
        )
        .await
    }

    /// A page of the audit log (admins only).
    pub async fn admin_audit_log(
        &self,
        access_token: &str,
        query: &AuditQuery,
    ) -> Result<AuditPage, AccountError> {
        self.json(
            self.http
                .get(self.url("/v1/admin/audit-log"))
                .bearer_auth(access_token)
                .query(query),
        )
        .await
    }
}
