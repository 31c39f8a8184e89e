//! The Teams screen's calls: the user's teams, a team's people, invitations
//! and roles, and joining with an invitation's code or link. The server's
//! policy engine decides from the caller's role; these carry the session.

use super::{Shell, ShellError};

impl Shell {
    /// The teams the user belongs to.
    pub async fn teams(&self) -> Result<Vec<orrery_account::Team>, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.teams(&token).await })
            .await
    }

    /// Creates a team the user owns; the teams then.
    pub async fn create_team(&self, name: &str) -> Result<Vec<orrery_account::Team>, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.create_team(&token, name).await })
            .await?;
        self.teams().await
    }

    /// A team's members and pending invitations.
    pub async fn team_people(&self, team: &str) -> Result<orrery_account::TeamPeople, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.team_people(&token, team).await })
            .await
    }

    /// Invites `email` as `role`; the team's people then.
    pub async fn invite_to_team(
        &self,
        team: &str,
        email: &str,
        role: &str,
    ) -> Result<orrery_account::TeamPeople, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(
            |token| async move { accounts.invite_to_team(&token, team, email, role).await },
        )
        .await?;
        self.team_people(team).await
    }

    /// Takes back an invitation; the team's people then.
    pub async fn revoke_team_invitation(
        &self,
        team: &str,
        invitation: &str,
    ) -> Result<orrery_account::TeamPeople, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move {
            accounts
                .revoke_team_invitation(&token, team, invitation)
                .await
        })
        .await?;
        self.team_people(team).await
    }

    /// Gives a member another role; the team's people then.
    pub async fn change_team_role(
        &self,
        team: &str,
        user: &str,
        role: &str,
    ) -> Result<orrery_account::TeamPeople, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move {
            accounts.change_team_role(&token, team, user, role).await
        })
        .await?;
        self.team_people(team).await
    }

    /// Removes a member, or leaves the team when `user` is the user; the
    /// teams then.
    pub async fn remove_team_member(
        &self,
        team: &str,
        user: &str,
    ) -> Result<Vec<orrery_account::Team>, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(
            |token| async move { accounts.remove_team_member(&token, team, user).await },
        )
        .await?;
        self.teams().await
    }

    /// Joins a team with an invitation's code or link.
    pub async fn accept_team_invitation(
        &self,
        code: &str,
    ) -> Result<orrery_account::JoinedTeam, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.accept_team_invitation(&token, code).await })
            .await
    }
}
