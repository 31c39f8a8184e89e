//! The event log: one append-only row per thing that happened on the server,
//! written inside the transaction of the change it records, so a crash loses
//! or invents no event. The daily rollups (`metrics.rs`) and the overview
//! are computed from it.
//!
//! Events carry the ids of the tenant and user they concern and facts
//! without personal data (no address, no name, no secret). Deleting a user
//! redacts those two ids, the one change the log's triggers allow.

use chrono::{DateTime, Utc};
use sqlx::{Any, Transaction};
use uuid::Uuid;

use crate::StoreError;
use crate::accounts::timestamp;

/// What kind of thing happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// An account was registered.
    AccountRegistered,
    /// A device signed in.
    SignedIn,
    /// An account was deleted with its data.
    AccountDeleted,
    /// A user's plan changed (by a subscription or an admin).
    PlanChanged,
    /// The server first heard of a subscription.
    SubscriptionCreated,
    /// A subscription changed.
    SubscriptionUpdated,
    /// A subscription ended.
    SubscriptionCanceled,
    /// An invoice was paid.
    InvoicePaid,
    /// An invoice's payment failed.
    InvoicePaymentFailed,
    /// An agent run finished.
    RunFinished,
    /// A call through the public API (an API key).
    ApiCall,
    /// An admin action (its details are in the audit log).
    AdminAction,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 12] = [
        EventKind::AccountRegistered,
        EventKind::SignedIn,
        EventKind::AccountDeleted,
        EventKind::PlanChanged,
        EventKind::SubscriptionCreated,
        EventKind::SubscriptionUpdated,
        EventKind::SubscriptionCanceled,
        EventKind::InvoicePaid,
        EventKind::InvoicePaymentFailed,
        EventKind::RunFinished,
        EventKind::ApiCall,
        EventKind::AdminAction,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::AccountRegistered => "account.registered",
            EventKind::SignedIn => "account.signed_in",
            EventKind::AccountDeleted => "account.deleted",
            EventKind::PlanChanged => "plan.changed",
            EventKind::SubscriptionCreated => "subscription.created",
            EventKind::SubscriptionUpdated => "subscription.updated",
            EventKind::SubscriptionCanceled => "subscription.canceled",
            EventKind::InvoicePaid => "invoice.paid",
            EventKind::InvoicePaymentFailed => "invoice.payment_failed",
            EventKind::RunFinished => "run.finished",
            EventKind::ApiCall => "api.call",
            EventKind::AdminAction => "admin.action",
        }
    }

    /// The kind with this stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// An event about to be appended.
#[derive(Debug, Clone)]
pub(crate) struct NewEvent<'a> {
    pub kind: EventKind,
    pub tenant_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    /// What it is about besides the user (`""`: nothing).
    pub subject: &'a str,
    pub data: serde_json::Value,
    pub at: DateTime<Utc>,
}

impl<'a> NewEvent<'a> {
    /// An event about a user, with no subject and no facts.
    pub fn of_user(kind: EventKind, tenant_id: Uuid, user_id: Uuid, at: DateTime<Utc>) -> Self {
        Self {
            kind,
            tenant_id: Some(tenant_id),
            user_id: Some(user_id),
            subject: "",
            data: serde_json::Value::Object(Default::default()),
            at,
        }
    }
}

/// The UTC day of an instant, `YYYY-MM-DD`.
pub(crate) fn day_of(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// Appends `event` inside the caller's transaction.
pub(crate) async fn record_event(
    transaction: &mut Transaction<'static, Any>,
    event: NewEvent<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO events (at, day, kind, tenant_id, user_id, subject, data) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(timestamp(event.at))
    .bind(day_of(event.at))
    .bind(event.kind.as_str())
    .bind(event.tenant_id.map(|id| id.to_string()))
    .bind(event.user_id.map(|id| id.to_string()))
    .bind(event.subject)
    .bind(event.data.to_string())
    .execute(&mut **transaction)
    .await?;
    Ok(())
}

/// Appends `event` unless one of its kind about its subject is already in
/// the log (a webhook delivered again records nothing twice). Returns whether
/// it was appended.
pub(crate) async fn record_event_once(
    transaction: &mut Transaction<'static, Any>,
    event: NewEvent<'_>,
) -> Result<bool, StoreError> {
    let seen: Option<i64> =
        sqlx::query_scalar("SELECT seq FROM events WHERE subject = $1 AND kind = $2 LIMIT 1")
            .bind(event.subject)
            .bind(event.kind.as_str())
            .fetch_optional(&mut **transaction)
            .await?;
    if seen.is_some() {
        return Ok(false);
    }
    record_event(transaction, event).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_their_names() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("account.hacked"), None);
    }
}
