//! Teams on the server (migration server/0025, pg 0021): a team is a tenant
//! of kind `team` with members, each holding a role, and invitations by
//! email whose link works once within its lifetime. Every change that must
//! hold under parallel requests (an invitation's single use, the hourly
//! invitation count, a team never left without an owner) is checked and
//! written in one write transaction.

use chrono::{DateTime, Duration, Utc};
use orrery_domain::team::TeamRole;
use sqlx::Row;
use uuid::Uuid;

use crate::accounts::timestamp;
use crate::local::parse_id;
use crate::outbox::{MailDraft, queue_mail};
use crate::server::Backend;
use crate::{ServerStore, StoreError};

/// One team a user belongs to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TeamMembership {
    /// The team (its tenant).
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// The user's role in it.
    pub role: TeamRole,
    /// How many members it has.
    pub members: i64,
    /// When the user joined.
    pub joined_at: String,
}

/// A member of a team.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TeamMemberRecord {
    /// The user.
    pub user_id: Uuid,
    /// Their name.
    pub name: String,
    /// Their address.
    pub email: String,
    /// Their role.
    pub role: TeamRole,
    /// When they joined.
    pub added_at: String,
}

/// An invitation not yet accepted, revoked or expired.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PendingInvitation {
    /// The invitation.
    pub id: Uuid,
    /// Whom it was sent to.
    pub email: String,
    /// The role it gives.
    pub role: TeamRole,
    /// Who sent it.
    pub invited_by: Uuid,
    /// When it was sent.
    pub created_at: String,
    /// When its link stops working.
    pub expires_at: String,
}

/// A team as a member sees it through a workspace: their role, and the plan
/// the team works on (its first owner's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamSeat {
    /// The member's role.
    pub role: TeamRole,
    /// The plan key the team works on.
    pub plan: String,
}

/// What creating a team did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamCreated {
    /// Made, with this id; its creator is its owner.
    Created(Uuid),
    /// The user already owns `limit` teams.
    TooMany {
        /// How many one may own.
        limit: u64,
    },
}

/// An invitation to store, with its mail.
#[derive(Debug, Clone)]
pub struct InvitationDraft {
    /// The team.
    pub team: Uuid,
    /// Whom to (a normalised address).
    pub email: String,
    /// The role it gives.
    pub role: TeamRole,
    /// SHA-256 of the link's secret.
    pub token_hash: String,
    /// Who sends it.
    pub invited_by: Uuid,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// The mail carrying the link, queued in the same transaction.
    pub mail: MailDraft,
}

/// What sending an invitation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvitationSent {
    /// Stored and its mail queued.
    Sent(Uuid),
    /// The team sent `limit` invitations in the last hour.
    TooMany {
        /// Invitations per hour.
        limit: u64,
    },
    /// The address already belongs to a member.
    AlreadyMember,
    /// Members and pending invitations already reach `limit`.
    TeamFull {
        /// Members a team may have.
        limit: u64,
    },
}

/// What accepting an invitation did. Only `Joined` changed anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvitationAccepted {
    /// The user is now a member.
    Joined {
        /// The team.
        team: Uuid,
        /// Its name.
        name: String,
        /// The role they hold.
        role: TeamRole,
    },
    /// No invitation has this secret.
    Unknown,
    /// It was accepted already.
    Used,
    /// It was taken back.
    Revoked,
    /// Its lifetime ran out.
    Expired,
    /// It was sent to another address.
    OtherAddress,
    /// The user is a member already.
    AlreadyMember,
}

/// What changing or removing a member did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChanged {
    /// Done.
    Done,
    /// They are not a member (any more), or their role changed since it was read.
    Gone,
    /// They are the team's last owner: a team always keeps one.
    LastOwner,
}

fn role_of(text: &str) -> Result<TeamRole, StoreError> {
    TeamRole::parse(text)
        .ok_or_else(|| StoreError::corrupt("team_members", format!("role `{text}`")))
}

impl ServerStore {
    /// Creates a team named `name` owned by `owner`, unless they already own
    /// `max_owned` teams.
    pub async fn create_team(
        &self,
        owner: Uuid,
        name: &str,
        max_owned: u64,
        now: DateTime<Utc>,
    ) -> Result<TeamCreated, StoreError> {
        let mut transaction = self.write_transaction().await?;
        if self.backend() == Backend::Postgres {
            sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                .bind(owner.to_string())
                .fetch_optional(&mut *transaction)
                .await?;
        }
        let owned: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM team_members WHERE user_id = $1 AND role = 'owner'",
        )
        .bind(owner.to_string())
        .fetch_one(&mut *transaction)
        .await?
        .get("n");
        if owned as u64 >= max_owned {
            return Ok(TeamCreated::TooMany { limit: max_owned });
        }
        let team = Uuid::now_v7();
        let now = timestamp(now);
        sqlx::query("INSERT INTO tenants (id, name, created_at, kind) VALUES ($1, $2, $3, 'team')")
            .bind(team.to_string())
            .bind(name)
            .bind(&now)
            .execute(&mut *transaction)
            .await?;
        sqlx::query(
            "INSERT INTO team_members (tenant_id, user_id, role, added_at) VALUES ($1, $2, 'owner', $3)",
        )
        .bind(team.to_string())
        .bind(owner.to_string())
        .bind(&now)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(TeamCreated::Created(team))
    }

    /// The teams `user` belongs to, oldest membership first.
    pub async fn teams_of(&self, user: Uuid) -> Result<Vec<TeamMembership>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, m.role, m.added_at,
                    (SELECT COUNT(*) FROM team_members o WHERE o.tenant_id = t.id) AS members
             FROM team_members m JOIN tenants t ON t.id = m.tenant_id
             WHERE m.user_id = $1 ORDER BY m.added_at, t.id",
        )
        .bind(user.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(TeamMembership {
                    id: parse_id(&row.get::<String, _>("id"), "tenants")?,
                    name: row.get("name"),
                    role: role_of(&row.get::<String, _>("role"))?,
                    members: row.get("members"),
                    joined_at: row.get("added_at"),
                })
            })
            .collect()
    }

    /// `user`'s seat in `team`: their role and the team's plan; `None`
    /// when they are not a member.
    pub async fn team_seat(&self, team: Uuid, user: Uuid) -> Result<Option<TeamSeat>, StoreError> {
        let row = sqlx::query(
            "SELECT m.role,
                    (SELECT u.plan FROM team_members o JOIN users u ON u.id = o.user_id
                     WHERE o.tenant_id = m.tenant_id AND o.role = 'owner'
                     ORDER BY o.added_at, o.user_id LIMIT 1) AS plan
             FROM team_members m WHERE m.tenant_id = $1 AND m.user_id = $2",
        )
        .bind(team.to_string())
        .bind(user.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(TeamSeat {
                role: role_of(&row.get::<String, _>("role"))?,
                plan: row
                    .get::<Option<String>, _>("plan")
                    .unwrap_or_else(|| "free".to_owned()),
            })
        })
        .transpose()
    }

    /// A user's display name, whatever their tenant.
    pub async fn user_name(&self, user: Uuid) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query("SELECT name FROM users WHERE id = $1")
            .bind(user.to_string())
            .fetch_optional(&self.pool)
            .await?
            .map(|row| row.get("name")))
    }

    /// A team's name, when `team` is a team.
    pub async fn team_name(&self, team: Uuid) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query("SELECT name FROM tenants WHERE id = $1 AND kind = 'team'")
                .bind(team.to_string())
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.get("name")),
        )
    }

    /// Renames a team.
    pub async fn rename_team(&self, team: Uuid, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE tenants SET name = $2 WHERE id = $1 AND kind = 'team'")
            .bind(team.to_string())
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done == 1)
    }

    /// A team's members, owners first, then by when they joined.
    pub async fn team_members(&self, team: Uuid) -> Result<Vec<TeamMemberRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.id, u.name, u.email, m.role, m.added_at
             FROM team_members m JOIN users u ON u.id = m.user_id
             WHERE m.tenant_id = $1
             ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 WHEN 'editor' THEN 2 ELSE 3 END,
                      m.added_at, u.id",
        )
        .bind(team.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(TeamMemberRecord {
                    user_id: parse_id(&row.get::<String, _>("id"), "users")?,
                    name: row.get("name"),
                    email: row.get("email"),
                    role: role_of(&row.get::<String, _>("role"))?,
                    added_at: row.get("added_at"),
                })
            })
            .collect()
    }

    /// A team's invitations that still work, newest first.
    pub async fn pending_invitations(
        &self,
        team: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Vec<PendingInvitation>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, email, role, invited_by, created_at, expires_at FROM team_invitations
             WHERE tenant_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2
             ORDER BY created_at DESC, id",
        )
        .bind(team.to_string())
        .bind(timestamp(now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PendingInvitation {
                    id: parse_id(&row.get::<String, _>("id"), "team_invitations")?,
                    email: row.get("email"),
                    role: role_of(&row.get::<String, _>("role"))?,
                    invited_by: parse_id(&row.get::<String, _>("invited_by"), "team_invitations")?,
                    created_at: row.get("created_at"),
                    expires_at: row.get("expires_at"),
                })
            })
            .collect()
    }

    /// Stores an invitation and queues its mail, unless the team sent
    /// `per_hour` in the last hour, the address is a member's, or members
    /// and pending invitations reach `max_members`. One write transaction:
    /// parallel invitations cannot pass a limit together.
    pub async fn create_invitation(
        &self,
        draft: &InvitationDraft,
        per_hour: u64,
        max_members: u64,
        now: DateTime<Utc>,
    ) -> Result<InvitationSent, StoreError> {
        let mut transaction = self.write_transaction().await?;
        let team = draft.team.to_string();
        lock_team(self, &mut transaction, &team).await?;
        let sent: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM team_invitations WHERE tenant_id = $1 AND created_at > $2",
        )
        .bind(&team)
        .bind(timestamp(now - Duration::hours(1)))
        .fetch_one(&mut *transaction)
        .await?
        .get("n");
        if sent as u64 >= per_hour {
            return Ok(InvitationSent::TooMany { limit: per_hour });
        }
        let member = sqlx::query(
            "SELECT 1 AS found FROM team_members m JOIN users u ON u.id = m.user_id
             WHERE m.tenant_id = $1 AND u.email = $2",
        )
        .bind(&team)
        .bind(&draft.email)
        .fetch_optional(&mut *transaction)
        .await?;
        if member.is_some() {
            return Ok(InvitationSent::AlreadyMember);
        }
        let seats: i64 = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM team_members WHERE tenant_id = $1)
                  + (SELECT COUNT(*) FROM team_invitations WHERE tenant_id = $1
                     AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2) AS n",
        )
        .bind(&team)
        .bind(timestamp(now))
        .fetch_one(&mut *transaction)
        .await?
        .get("n");
        if seats as u64 >= max_members {
            return Ok(InvitationSent::TeamFull { limit: max_members });
        }
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO team_invitations (id, tenant_id, email, role, token_hash, invited_by, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.to_string())
        .bind(&team)
        .bind(&draft.email)
        .bind(draft.role.as_str())
        .bind(&draft.token_hash)
        .bind(draft.invited_by.to_string())
        .bind(timestamp(now))
        .bind(timestamp(draft.expires_at))
        .execute(&mut *transaction)
        .await?;
        queue_mail(&mut transaction, &draft.mail, now).await?;
        transaction.commit().await?;
        Ok(InvitationSent::Sent(id))
    }

    /// Takes back a pending invitation of `team`; `false` when there is no
    /// such pending invitation.
    pub async fn revoke_invitation(
        &self,
        team: Uuid,
        invitation: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE team_invitations SET revoked_at = $3
             WHERE id = $1 AND tenant_id = $2 AND accepted_at IS NULL AND revoked_at IS NULL",
        )
        .bind(invitation.to_string())
        .bind(team.to_string())
        .bind(timestamp(now))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    /// Accepts the invitation whose secret hashes to `token_hash` for `user`
    /// (whose address is `email`): it must be unused, not revoked, not
    /// expired, sent to that address, and the user not a member yet. Marking
    /// it used and adding the member are one transaction, so of two parallel
    /// acceptances one joins and the other is told the link was used.
    pub async fn accept_invitation(
        &self,
        token_hash: &str,
        user: Uuid,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<InvitationAccepted, StoreError> {
        let mut transaction = self.write_transaction().await?;
        let Some(row) = sqlx::query(
            "SELECT i.id, i.tenant_id, i.email, i.role, i.expires_at, i.accepted_at, i.revoked_at, t.name
             FROM team_invitations i JOIN tenants t ON t.id = i.tenant_id
             WHERE i.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *transaction)
        .await?
        else {
            return Ok(InvitationAccepted::Unknown);
        };
        if row.get::<Option<String>, _>("accepted_at").is_some() {
            return Ok(InvitationAccepted::Used);
        }
        if row.get::<Option<String>, _>("revoked_at").is_some() {
            return Ok(InvitationAccepted::Revoked);
        }
        if row.get::<String, _>("expires_at") <= timestamp(now) {
            return Ok(InvitationAccepted::Expired);
        }
        if row.get::<String, _>("email") != email {
            return Ok(InvitationAccepted::OtherAddress);
        }
        let team: String = row.get("tenant_id");
        lock_team(self, &mut transaction, &team).await?;
        let member = sqlx::query(
            "SELECT 1 AS found FROM team_members WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(&team)
        .bind(user.to_string())
        .fetch_optional(&mut *transaction)
        .await?;
        if member.is_some() {
            return Ok(InvitationAccepted::AlreadyMember);
        }
        let role = role_of(&row.get::<String, _>("role"))?;
        let used = sqlx::query(
            "UPDATE team_invitations SET accepted_at = $2, accepted_by = $3
             WHERE id = $1 AND accepted_at IS NULL",
        )
        .bind(row.get::<String, _>("id"))
        .bind(timestamp(now))
        .bind(user.to_string())
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        if used != 1 {
            return Ok(InvitationAccepted::Used);
        }
        sqlx::query(
            "INSERT INTO team_members (tenant_id, user_id, role, added_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&team)
        .bind(user.to_string())
        .bind(role.as_str())
        .bind(timestamp(now))
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(InvitationAccepted::Joined {
            team: parse_id(&team, "team_invitations")?,
            name: row.get("name"),
            role,
        })
    }

    /// Changes `user`'s role in `team` from `from` (as the caller read it)
    /// to `to`. Refused when the role changed meanwhile, or when it would
    /// leave the team without an owner.
    pub async fn change_member_role(
        &self,
        team: Uuid,
        user: Uuid,
        from: TeamRole,
        to: TeamRole,
    ) -> Result<MemberChanged, StoreError> {
        self.change_member(team, user, from, Some(to)).await
    }

    /// Removes `user` (holding `role`, as the caller read it) from `team`;
    /// a team's last owner stays.
    pub async fn remove_member(
        &self,
        team: Uuid,
        user: Uuid,
        role: TeamRole,
    ) -> Result<MemberChanged, StoreError> {
        self.change_member(team, user, role, None).await
    }

    /// Gives `user`, holding `from`, the role `to`, or removes them (`None`),
    /// in one transaction with the team's lock: never the last owner, and
    /// only while they still hold `from`.
    async fn change_member(
        &self,
        team: Uuid,
        user: Uuid,
        from: TeamRole,
        to: Option<TeamRole>,
    ) -> Result<MemberChanged, StoreError> {
        let mut transaction = self.write_transaction().await?;
        lock_team(self, &mut transaction, &team.to_string()).await?;
        if from == TeamRole::Owner
            && to != Some(TeamRole::Owner)
            && owners(&mut transaction, team).await? <= 1
        {
            return Ok(MemberChanged::LastOwner);
        }
        let statement = match to {
            Some(to) => sqlx::query(
                "UPDATE team_members SET role = $4 WHERE tenant_id = $1 AND user_id = $2 AND role = $3",
            )
            .bind(team.to_string())
            .bind(user.to_string())
            .bind(from.as_str())
            .bind(to.as_str()),
            None => sqlx::query(
                "DELETE FROM team_members WHERE tenant_id = $1 AND user_id = $2 AND role = $3",
            )
            .bind(team.to_string())
            .bind(user.to_string())
            .bind(from.as_str()),
        };
        if statement.execute(&mut *transaction).await?.rows_affected() != 1 {
            return Ok(MemberChanged::Gone);
        }
        transaction.commit().await?;
        Ok(MemberChanged::Done)
    }
}

/// How many owners `team` has, read inside `transaction` (which holds the
/// team's lock, [`lock_team`]).
async fn owners(
    transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    team: Uuid,
) -> Result<u64, StoreError> {
    let owners: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM team_members WHERE tenant_id = $1 AND role = 'owner'",
    )
    .bind(team.to_string())
    .fetch_one(&mut **transaction)
    .await?
    .get("n");
    Ok(owners as u64)
}

/// Takes `team`'s lock inside `transaction`: on SQLite the write transaction
/// already holds the database's; on PostgreSQL the tenant's row is locked,
/// so counts read after this hold until the transaction ends, on every
/// server instance.
async fn lock_team(
    store: &ServerStore,
    transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    team: &str,
) -> Result<(), StoreError> {
    if store.backend() == Backend::Postgres {
        sqlx::query("SELECT id FROM tenants WHERE id = $1 FOR UPDATE")
            .bind(team)
            .fetch_optional(&mut **transaction)
            .await?;
    }
    Ok(())
}
