//! Runs decided on the device, online or not: after each sync the shell
//! keeps what the server said of the signed-in user's plan, usage and
//! standing (`orrery_domain::runs::CachedAllowance`, a local setting), and
//! before each run asks the policy engine on it, adding the runs of the usage
//! ledger the server had not counted then. Offline, a user can go no further
//! than the allowance they had left; the canvas's chat panel shows it.

use orrery_canvas::CanvasCommand;
use orrery_domain::policy::Role;
use orrery_domain::runs::CachedAllowance;

use super::{Shell, ShellError};

/// The local setting that holds the cached allowance (JSON).
const ALLOWANCE_SETTING: &str = "allowance";

impl Shell {
    /// Asks the server for the plan, usage and standing the engine decides
    /// with, and keeps them. Nothing is asked when signed out.
    pub(super) async fn refresh_allowance(&self) -> Result<(), ShellError> {
        let Some(account_id) = self.signed_in_account().await.map(|(id, _)| id) else {
            return Ok(());
        };
        // Taken before asking: a ledger entry acknowledged after this may
        // or may not be in the answer, and is counted (never too little).
        let as_of = orrery_store::now_text();
        let accounts = &self.inner.accounts;
        let (plan, usage, in_good_standing) = self
            .with_token(|token| async move { accounts.allowance(&token).await })
            .await?;
        let cached = CachedAllowance {
            account_id,
            plan,
            usage,
            in_good_standing,
            as_of,
        };
        let json = serde_json::to_string(&cached).expect("an allowance serialises");
        self.replica()
            .store()
            .set_setting(ALLOWANCE_SETTING, &json)
            .await
            .map_err(orrery_sync::SyncError::from)?;
        self.show_allowance().await;
        Ok(())
    }

    /// The signed-in user's id and role, if someone is signed in.
    async fn signed_in_account(&self) -> Option<(String, Role)> {
        let session = self.inner.session.lock().await;
        session.as_ref().map(|session| {
            let role = if session.account.role == "admin" {
                Role::Admin
            } else {
                Role::User
            };
            (session.account.id.clone(), role)
        })
    }

    /// The signed-in user's cached allowance with the runs and tokens the
    /// server had not counted when it was taken; `None` when signed out or
    /// never synced.
    async fn allowance_now(&self) -> Result<Option<(CachedAllowance, Role, u64, u64)>, ShellError> {
        let Some((account_id, role)) = self.signed_in_account().await else {
            return Ok(None);
        };
        let replica = self.replica();
        let store = replica.store();
        let cached: Option<CachedAllowance> = store
            .setting(ALLOWANCE_SETTING)
            .await
            .map_err(orrery_sync::SyncError::from)?
            .and_then(|json| serde_json::from_str(&json).ok());
        let Some(cached) = cached.filter(|cached| cached.account_id == account_id) else {
            return Ok(None);
        };
        let (runs, tokens) = store
            .runs_not_counted_at(&cached.as_of)
            .await
            .map_err(orrery_sync::SyncError::from)?;
        Ok(Some((cached, role, runs, tokens)))
    }

    /// Refuses a run the plan does not allow now, with the engine's reason.
    /// Signed out, or before the first sync, nothing is refused.
    pub(super) async fn check_allowance(&self) -> Result<(), ShellError> {
        let Some((cached, role, runs, tokens)) = self.allowance_now().await? else {
            return Ok(());
        };
        let decision = cached.decide_run(role, runs, tokens);
        if decision.allowed {
            Ok(())
        } else {
            Err(ShellError::LimitReached(decision.reason))
        }
    }

    /// Tells the canvas what is left of the period's runs and tokens.
    pub(super) async fn show_allowance(&self) {
        let remaining = match self.allowance_now().await {
            Ok(now) => now.map(|(cached, _, runs, tokens)| cached.remaining(runs, tokens)),
            Err(error) => {
                tracing::warn!(%error, "the allowance could not be read");
                None
            }
        };
        // A closed canvas has nothing to show it on.
        let _ = self
            .inner
            .canvas
            .send(CanvasCommand::ShowAllowance(remaining));
    }
}
