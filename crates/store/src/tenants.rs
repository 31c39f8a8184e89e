//! Tenants as the operator sees them (a person's own, or a team's): each
//! with its members, what it holds
//! (graphs, library documents) and its usage this period, newest first,
//! searched by name or a member's address.

use sqlx::Row;
use uuid::Uuid;

use crate::admin::contains_pattern;
use crate::local::parse_id;
use crate::{ServerStore, StoreError};

/// A member of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TenantMember {
    /// The user.
    pub id: Uuid,
    /// Their address.
    pub email: String,
    /// Their role on the server.
    pub role: String,
}

/// One tenant with its members and usage.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TenantSummary {
    /// The tenant.
    pub id: Uuid,
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
    /// Agent runs this period, all members.
    pub runs: i64,
    /// Tokens this period.
    pub tokens: i64,
    /// API calls this period.
    pub api_calls: i64,
}

/// A page of tenants.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TenantPage {
    /// This page.
    pub tenants: Vec<TenantSummary>,
    /// How many match, on every page.
    pub total: u64,
}

impl ServerStore {
    /// A page of tenants, newest first; `text` matches a part of the name
    /// or of a member's address. `period` is the usage period (`YYYY-MM`).
    pub async fn list_tenants(
        &self,
        text: Option<&str>,
        period: &str,
        offset: u64,
        limit: u64,
    ) -> Result<TenantPage, StoreError> {
        let pattern = text.map(contains_pattern);
        // `{n}`: the pattern's placeholder in each query.
        let filter = |n: usize| {
            if pattern.is_some() {
                format!(
                    "WHERE LOWER(t.name) LIKE ${n} ESCAPE '\\' OR EXISTS (SELECT 1 FROM users m WHERE m.tenant_id = t.id AND m.email LIKE ${n} ESCAPE '\\') OR EXISTS (SELECT 1 FROM team_members tm JOIN users m ON m.id = tm.user_id WHERE tm.tenant_id = t.id AND m.email LIKE ${n} ESCAPE '\\')"
                )
            } else {
                String::new()
            }
        };
        let usage = |metric: &str| {
            format!(
                "(SELECT CAST(COALESCE(SUM(c.used), 0) AS BIGINT) FROM usage_counters c WHERE c.tenant_id = t.id AND c.period = $1 AND c.metric = '{metric}') AS {metric}"
            )
        };
        // Offset and limit are numbers the caller checked, not text.
        let listing = format!(
            "SELECT t.id, t.name, t.created_at,
                    (SELECT COUNT(*) FROM graph_documents g WHERE g.tenant_id = t.id) AS graphs,
                    (SELECT COUNT(*) FROM library_documents l WHERE l.tenant_id = t.id) AS documents,
                    {}, {}, {}
             FROM tenants t {}
             ORDER BY t.created_at DESC, t.id DESC LIMIT {limit} OFFSET {offset}",
            usage("runs"),
            usage("tokens"),
            usage("api_calls"),
            filter(2),
        );
        let mut query = sqlx::query(&listing).bind(period);
        if let Some(pattern) = &pattern {
            query = query.bind(pattern.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        let counting = format!("SELECT COUNT(*) FROM tenants t {}", filter(1));
        let mut count = sqlx::query_scalar::<_, i64>(&counting);
        if let Some(pattern) = &pattern {
            count = count.bind(pattern.as_str());
        }
        let total = count.fetch_one(&self.pool).await?;
        let mut tenants = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: String = row.get("id");
            // A person's own tenant has them; a team's, its members.
            let members = sqlx::query(
                "SELECT id, email, role, created_at AS since FROM users WHERE tenant_id = $1
                 UNION ALL
                 SELECT u.id, u.email, u.role, m.added_at AS since
                 FROM team_members m JOIN users u ON u.id = m.user_id WHERE m.tenant_id = $1
                 ORDER BY since, id",
            )
            .bind(&id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|member| {
                Ok(TenantMember {
                    id: parse_id(&member.get::<String, _>("id"), "users")?,
                    email: member.get("email"),
                    role: member.get("role"),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
            tenants.push(TenantSummary {
                id: parse_id(&id, "tenants")?,
                name: row.get("name"),
                created_at: row.get("created_at"),
                members,
                graphs: row.get("graphs"),
                documents: row.get("documents"),
                runs: row.get("runs"),
                tokens: row.get("tokens"),
                api_calls: row.get("api_calls"),
            });
        }
        Ok(TenantPage {
            tenants,
            total: u64::try_from(total).map_err(|error| StoreError::corrupt("tenants", error))?,
        })
    }
}
