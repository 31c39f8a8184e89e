//! Teams as the desktop's Teams screen uses them (`/v1/teams`,
//! `/v1/invitations/accept`): the user's teams, a team's members and
//! pending invitations, inviting by email, roles, removing and leaving,
//! and joining with an invitation's code or link. Every call carries the
//! signed-in user's token; the server's policy engine decides from the
//! caller's role.

use serde::{Deserialize, Serialize};

use crate::{AccountClient, AccountError};

/// One team the user belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Team {
    /// The team.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The user's role in it: owner, admin, editor or viewer.
    pub role: String,
    /// How many members it has.
    pub members: i64,
    /// When the user joined.
    pub joined_at: String,
}

/// A member of a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct TeamMember {
    /// The user.
    pub user_id: String,
    /// Their name.
    pub name: String,
    /// Their address.
    pub email: String,
    /// Their role.
    pub role: String,
    /// When they joined.
    pub added_at: String,
}

/// An invitation not yet accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct TeamInvitation {
    /// The invitation.
    pub id: String,
    /// Whom it was sent to.
    pub email: String,
    /// The role it gives.
    pub role: String,
    /// When its link stops working.
    pub expires_at: String,
}

/// A team's people, as the caller may see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct TeamPeople {
    /// The caller's own role.
    pub role: String,
    /// Its members, owners first.
    pub members: Vec<TeamMember>,
    /// Pending invitations (empty for those who cannot take them back).
    pub invitations: Vec<TeamInvitation>,
}

/// The team an accepted invitation joined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct JoinedTeam {
    /// The team.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The role held.
    pub role: String,
}

impl AccountClient {
    /// The teams the user belongs to.
    pub async fn teams(&self, access_token: &str) -> Result<Vec<Team>, AccountError> {
        self.json(
            self.http
                .get(self.url("/v1/teams"))
                .bearer_auth(access_token),
        )
        .await
    }

    /// Creates a team the user owns.
    pub async fn create_team(&self, access_token: &str, name: &str) -> Result<Team, AccountError> {
        self.json(
            self.http
                .post(self.url("/v1/teams"))
                .bearer_auth(access_token)
                .json(&serde_json::json!({ "name": name })),
        )
        .await
    }

    /// A team's members and pending invitations.
    pub async fn team_people(
        &self,
        access_token: &str,
        team: &str,
    ) -> Result<TeamPeople, AccountError> {
        self.json(
            self.http
                .get(self.url(&format!("/v1/teams/{team}/members")))
                .bearer_auth(access_token),
        )
        .await
    }

    /// Invites `email` to a team as `role`; the server mails the link.
    pub async fn invite_to_team(
        &self,
        access_token: &str,
        team: &str,
        email: &str,
        role: &str,
    ) -> Result<(), AccountError> {
        self.send(
            self.http
                .post(self.url(&format!("/v1/teams/{team}/invitations")))
                .bearer_auth(access_token)
                .json(&serde_json::json!({ "email": email, "role": role })),
        )
        .await?;
        Ok(())
    }

    /// Takes back a pending invitation.
    pub async fn revoke_team_invitation(
        &self,
        access_token: &str,
        team: &str,
        invitation: &str,
    ) -> Result<(), AccountError> {
        self.send(
            self.http
                .delete(self.url(&format!("/v1/teams/{team}/invitations/{invitation}")))
                .bearer_auth(access_token),
        )
        .await?;
        Ok(())
    }

    /// Gives a member another role.
    pub async fn change_team_role(
        &self,
        access_token: &str,
        team: &str,
        user: &str,
        role: &str,
    ) -> Result<(), AccountError> {
        self.send(
            self.http
                .patch(self.url(&format!("/v1/teams/{team}/members/{user}")))
                .bearer_auth(access_token)
                .json(&serde_json::json!({ "role": role })),
        )
        .await?;
        Ok(())
    }

    /// Removes a member (the user themself: leaves the team).
    pub async fn remove_team_member(
        &self,
        access_token: &str,
        team: &str,
        user: &str,
    ) -> Result<(), AccountError> {
        self.send(
            self.http
                .delete(self.url(&format!("/v1/teams/{team}/members/{user}")))
                .bearer_auth(access_token),
        )
        .await?;
        Ok(())
    }

    /// Joins a team with an invitation's code or `orrery://invite/…` link.
    pub async fn accept_team_invitation(
        &self,
        access_token: &str,
        code: &str,
    ) -> Result<JoinedTeam, AccountError> {
        self.json(
            self.http
                .post(self.url("/v1/invitations/accept"))
                .bearer_auth(access_token)
                .json(&serde_json::json!({ "code": code })),
        )
        .await
    }
}
