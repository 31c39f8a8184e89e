//! Sandbox sessions from the desktop: a task typed in the canvas's chat
//! panel runs on the open graph's agents (orrery-sessions), the canvas
//! follows the run, and the chat is kept in the graph's session document.

use std::sync::Arc;

use orrery_canvas::CanvasCommand;
use orrery_domain::GraphId;
use orrery_runtime::{HttpProvider, ProviderSettings};
use orrery_sessions::{SessionError, SessionRunner};

use super::{Shell, ShellError};

/// The local setting that holds the provider the sandbox calls (JSON).
const PROVIDER_SETTING: &str = "provider";

impl Shell {
    /// The model provider sandbox runs call: what the user chose, or a local
    /// Ollama (`http://127.0.0.1:11434/v1`).
    pub async fn provider_settings(&self) -> Result<ProviderSettings, ShellError> {
        let stored = self
            .inner
            .replica
            .store()
            .setting(PROVIDER_SETTING)
            .await
            .map_err(orrery_sync::SyncError::from)?;
        Ok(stored
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_else(ProviderSettings::local))
    }

    /// Chooses the model provider sandbox runs call (checked first).
    pub async fn save_provider_settings(
        &self,
        settings: &ProviderSettings,
    ) -> Result<(), ShellError> {
        settings
            .validate()
            .map_err(|error| ShellError::Session(SessionError::Runtime(error)))?;
        let json = serde_json::to_string(settings).expect("provider settings serialise");
        self.inner
            .replica
            .store()
            .set_setting(PROVIDER_SETTING, &json)
            .await
            .map_err(orrery_sync::SyncError::from)?;
        Ok(())
    }

    /// Runs `task` on `graph`'s agents; the canvas follows the run. Refused
    /// while another run goes.
    pub async fn run_task(&self, graph: GraphId, task: String) -> Result<(), ShellError> {
        let settings = self.provider_settings().await?;
        let provider = HttpProvider::new(settings, None).map_err(SessionError::from)?;
        let runner = SessionRunner::new(self.inner.replica.clone(), Arc::new(provider));
        let canvas = self.inner.canvas.clone();
        let shell = self.clone();
        self.inner.runs.start(
            runner,
            &tokio::runtime::Handle::current(),
            graph,
            task,
            move |update| {
                let ended = matches!(update, orrery_sessions::RunUpdate::Ended { .. });
                let _ = canvas.send(orrery_canvas::chat::command_for(update));
                if ended {
                    // The chat grew: sync it.
                    shell.inner.changed.notify_one();
                }
            },
        )?;
        Ok(())
    }

    /// Tells the canvas why a run did not start.
    pub fn refuse_run(&self, reason: String) -> Result<(), ShellError> {
        self.inner
            .canvas
            .send(CanvasCommand::RunRefused(reason))
            .map_err(|_| ShellError::CanvasGone)
    }

    /// Cancels the run going now; false if none is.
    pub fn cancel_run(&self) -> bool {
        self.inner.runs.cancel()
    }

    /// Shows `graph`'s session chat in the canvas, if it has one.
    pub(super) async fn show_session_of(&self, graph: GraphId) -> Result<(), ShellError> {
        let runner = SessionRunner::new(
            self.inner.replica.clone(),
            Arc::new(
                HttpProvider::new(ProviderSettings::local(), None).map_err(SessionError::from)?,
            ),
        );
        let messages = runner
            .existing_session(graph)
            .await?
            .map(|session| session.messages)
            .unwrap_or_default();
        self.inner
            .canvas
            .send(CanvasCommand::ShowChat(messages))
            .map_err(|_| ShellError::CanvasGone)
    }
}
